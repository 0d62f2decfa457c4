"""Who is looking: the session a browser signed in to, named by a cookie.

The cookie holds a random session token, never the API key (service/auth/sessions.py
keeps the session, hashed, bound to the key). It is HttpOnly (no script reads it),
SameSite=Strict (no other site's page sends it) and Secure whenever a browser would
keep it: always for an https public URL and for loopback (Chromium treats
http://127.0.0.1 and localhost as secure contexts), never for plain http to any other
host, where a Secure cookie would be silently dropped and signing in would loop back to
the form. It lasts as long as the session (JOBTRAIL_DASHBOARD_SESSION_S).
"""

from urllib.parse import urlsplit
from uuid import UUID

from litestar import Request
from litestar.datastructures import Cookie

from domain.state import JobState
from service.api.dependencies import Pool
from service.auth.keys import Principal, Scope
from service.auth.sessions import session_principal, session_principal_with_job
from service.settings import Settings

SESSION_COOKIE = "jobtrail_session"
# Where earlier versions kept the API key itself: cleared wherever the sign-in form is
# shown or a session ends, so no browser keeps one.
LEGACY_KEY_COOKIE = "jobtrail_key"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
READ_SCOPES = {Scope.JOBS_READ, Scope.AUDIT_READ}


class NotSignedIn(Exception):
    """No cookie, or one whose session is unknown, signed out or expired, or whose key
    is revoked or may not read jobs."""


def secure_cookies(settings: Settings) -> bool:
    url = urlsplit(settings.base_url)
    return url.scheme == "https" or url.hostname in LOOPBACK


def cookie(name: str, value: str, settings: Settings, max_age: int | None = None) -> Cookie:
    return Cookie(
        key=name,
        value=value,
        path="/",
        max_age=max_age,
        httponly=True,
        secure=secure_cookies(settings),
        samesite="strict",
    )


def session_cookie(token: str, settings: Settings) -> Cookie:
    return cookie(SESSION_COOKIE, token, settings, max_age=int(settings.dashboard_session_s))


def cleared(name: str, settings: Settings) -> Cookie:
    return Cookie(
        key=name, value="", path="/", max_age=0, httponly=True, secure=secure_cookies(settings), samesite="strict"
    )


def may_read(principal: Principal) -> bool:
    return bool(READ_SCOPES & principal.scopes)


async def signed_in(request: Request, pool: Pool) -> Principal | None:
    """The principal behind the cookie's session, if it is live and may read jobs."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    async with pool.connection() as conn:
        principal = await session_principal(conn, token)
    return principal if principal is not None and may_read(principal) else None


async def viewer(request: Request, pool: Pool) -> Principal:
    """The signed-in principal, also kept on the request so that an error page can show
    who is signed in."""
    principal = await signed_in(request, pool)
    if principal is None:
        raise NotSignedIn()
    request.state.principal = principal
    return principal


async def viewer_and_job(request: Request, pool: Pool, stream_id: UUID) -> tuple[Principal, JobState]:
    """The viewer and the job's status snapshot in one query: what a poll needs to see
    whether anything changed."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise NotSignedIn()
    async with pool.connection() as conn:
        principal, state = await session_principal_with_job(conn, token, stream_id)
    if principal is None or not may_read(principal):
        raise NotSignedIn()
    request.state.principal = principal
    return principal, state
