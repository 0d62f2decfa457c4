"""Cross-site request forgery: a double-submit token on every state-changing form.

Litestar's CSRFConfig installs a middleware that runs on every request of the app, the
hot API included, and wants a shared secret; the dashboard's few forms do not need
either. Each form carries the value of a random `jobtrail_csrf` cookie in a hidden
field, and a POST is accepted only when the two match. Another site can neither read
the cookie nor, with SameSite=Strict, make the browser send it, so it cannot forge the
pair. Sign-in is covered too, so no one can sign a visitor in as someone else.
"""

import hmac
import secrets

from litestar import Request

from service.dashboard.session import cookie
from service.settings import Settings

CSRF_COOKIE = "jobtrail_csrf"


class ForgedForm(Exception):
    """A POST whose token does not match the browser's cookie."""


def token_for(request: Request) -> tuple[str, bool]:
    """The browser's token, and whether it is new (and so must be set as a cookie)."""
    existing = request.cookies.get(CSRF_COOKIE)
    return (existing, False) if existing else (secrets.token_urlsafe(32), True)


def token_cookies(token: str, new: bool, settings: Settings) -> list:
    return [cookie(CSRF_COOKIE, token, settings)] if new else []


def check(request: Request, submitted: str) -> None:
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise ForgedForm()
