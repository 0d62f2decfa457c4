"""Dashboard sessions: a random token that stands for an API key, kept server-side.

The browser holds the token; the database holds its SHA-256, the key id it acts for and
when it expires. A copied cookie is thus no API key: it works only on the dashboard,
only until the session expires or is signed out, and only while its key stands, since
every lookup joins `api_keys`. Every statement on `dashboard_sessions` is here.
"""

import hashlib
import secrets
from uuid import UUID

from psycopg import AsyncConnection

from domain.state import INITIAL, JobState
from service.auth.keys import Principal, Scope
from service.store.job_status import state_of

# Signing in also drops the sessions that have expired, so the table holds only live ones
# (and the ones that expired since the last sign-in).
START = """
WITH expired AS (
    DELETE FROM dashboard_sessions WHERE expires_at <= now()
)
INSERT INTO dashboard_sessions (token_hash, key_id, expires_at)
VALUES (%(token_hash)s, %(key_id)s, now() + make_interval(secs => %(lifetime_s)s))
"""
END = "DELETE FROM dashboard_sessions WHERE token_hash = %(token_hash)s"
FIND = """
SELECT k.key_id, k.owner, k.scopes
  FROM dashboard_sessions s
  JOIN api_keys k ON k.key_id = s.key_id
 WHERE s.token_hash = %(token_hash)s AND s.expires_at > now() AND k.revoked_at IS NULL
"""
# A job page's poll in one round trip: the session's key and the job's snapshot together.
FIND_WITH_JOB = """
SELECT k.key_id, k.owner, k.scopes, j.state::text
  FROM dashboard_sessions s
  JOIN api_keys k ON k.key_id = s.key_id
  LEFT JOIN job_status j ON j.stream_id = %(stream_id)s
 WHERE s.token_hash = %(token_hash)s AND s.expires_at > now() AND k.revoked_at IS NULL
"""


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def start_session(conn: AsyncConnection, key_id: str, lifetime_s: float) -> str:
    """A new session for `key_id`; the token is returned once, for the cookie."""
    token = secrets.token_urlsafe(32)
    params = {"token_hash": hash_token(token), "key_id": key_id, "lifetime_s": lifetime_s}
    await conn.execute(START, params)
    return token


async def end_session(conn: AsyncConnection, token: str) -> None:
    await conn.execute(END, {"token_hash": hash_token(token)})


async def session_principal(conn: AsyncConnection, token: str) -> Principal | None:
    """Who the session acts for, if it is live and its key stands."""
    found = await (await conn.execute(FIND, {"token_hash": hash_token(token)})).fetchone()
    if found is None:
        return None
    key_id, owner, scopes = found
    return Principal(key_id, owner, frozenset(Scope(s) for s in scopes))


async def session_principal_with_job(
    conn: AsyncConnection, token: str, stream_id: UUID
) -> tuple[Principal | None, JobState]:
    """The session's principal and the job (INITIAL if absent), in one query."""
    params = {"token_hash": hash_token(token), "stream_id": stream_id}
    found = await (await conn.execute(FIND_WITH_JOB, params)).fetchone()
    if found is None:
        return None, INITIAL
    key_id, owner, scopes, state = found
    return Principal(key_id, owner, frozenset(Scope(s) for s in scopes)), state_of(state)
