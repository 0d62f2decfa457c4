"""Who is looking: the API key a browser signed in with, kept in a cookie.

The cookie holds the key itself, so it is HttpOnly (no script reads it), SameSite=Strict
(no other site's page sends it) and Secure whenever a browser would keep it: always for
an https public URL and for loopback (Chromium treats http://127.0.0.1 and localhost as
secure contexts), never for plain http to any other host, where a Secure cookie would be
silently dropped and signing in would loop back to the form.
"""

from urllib.parse import urlsplit
from uuid import UUID

from litestar import Request
from litestar.datastructures import Cookie

from domain.state import JobState
from service.api.dependencies import Pool
from service.auth.keys import Principal, Scope, authenticate, authenticate_with_job
from service.settings import Settings

KEY_COOKIE = "jobtrail_key"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
READ_SCOPES = {Scope.JOBS_READ, Scope.AUDIT_READ}


class NotSignedIn(Exception):
    """No cookie, or one whose key is unknown, revoked or may not read jobs."""


def secure_cookies(settings: Settings) -> bool:
    url = urlsplit(settings.public_url)
    return url.scheme == "https" or url.hostname in LOOPBACK


def cookie(name: str, value: str, settings: Settings) -> Cookie:
    return Cookie(key=name, value=value, path="/", httponly=True, secure=secure_cookies(settings), samesite="strict")


def cleared(name: str, settings: Settings) -> Cookie:
    return Cookie(
        key=name, value="", path="/", max_age=0, httponly=True, secure=secure_cookies(settings), samesite="strict"
    )


def may_read(principal: Principal) -> bool:
    return bool(READ_SCOPES & principal.scopes)


async def signed_in(request: Request, pool: Pool) -> Principal | None:
    """The principal behind the cookie, if it still stands and may read jobs."""
    key = request.cookies.get(KEY_COOKIE)
    if not key:
        return None
    async with pool.connection() as conn:
        principal = await authenticate(conn, key)
    return principal if principal is not None and may_read(principal) else None


async def viewer(request: Request, pool: Pool) -> Principal:
    principal = await signed_in(request, pool)
    if principal is None:
        raise NotSignedIn()
    return principal


async def viewer_and_job(request: Request, pool: Pool, stream_id: UUID) -> tuple[Principal, JobState]:
    """The viewer and the job's status snapshot in one query: what a poll needs to see
    whether anything changed."""
    key = request.cookies.get(KEY_COOKIE)
    if not key:
        raise NotSignedIn()
    async with pool.connection() as conn:
        principal, state = await authenticate_with_job(conn, key, stream_id)
    if principal is None or not may_read(principal):
        raise NotSignedIn()
    return principal, state
