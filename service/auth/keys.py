"""API keys: created once and shown once, stored as a hash, revocable.

A key reads `jt_<key_id>_<secret>`. Lookups hash the whole presented key, so a
wrong, malformed or revoked key costs one indexed read and reveals nothing. Every
statement on `api_keys` is here, the hot path's lookup of a key with a job included.
"""

import hashlib
import secrets
from datetime import datetime
from enum import StrEnum
from uuid import UUID

import msgspec
from psycopg import AsyncConnection

from domain.state import INITIAL, JobState
from service.store.job_status import state_of


class Scope(StrEnum):
    JOBS_WRITE = "jobs:write"
    JOBS_READ = "jobs:read"
    AUDIT_READ = "audit:read"


DEFAULT_SCOPES = (Scope.JOBS_WRITE, Scope.JOBS_READ)


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the key's owner and what it may do."""

    key_id: str
    owner: str
    scopes: frozenset[Scope]


class KeyInfo(msgspec.Struct, frozen=True):
    key_id: str
    owner: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


INSERT = """
INSERT INTO api_keys (key_id, owner, scopes, secret_hash)
VALUES (%(key_id)s, %(owner)s, %(scopes)s, %(secret_hash)s)
"""
FIND = """
SELECT key_id, owner, scopes FROM api_keys
 WHERE secret_hash = %(secret_hash)s AND revoked_at IS NULL
"""
LIST = "SELECT key_id, owner, scopes, created_at, revoked_at FROM api_keys ORDER BY created_at, key_id"
REVOKE = """
UPDATE api_keys SET revoked_at = now() WHERE key_id = %(key_id)s AND revoked_at IS NULL RETURNING key_id
"""

# The hot read path in one round trip: the caller's key and the job's snapshot together.
LOAD_WITH_KEY = """
SELECT k.key_id, k.owner, k.scopes, j.state::text
  FROM api_keys k
  LEFT JOIN job_status j ON j.stream_id = %(stream_id)s
 WHERE k.secret_hash = %(secret_hash)s AND k.revoked_at IS NULL
"""


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def create_key(conn: AsyncConnection, owner: str, scopes: tuple[Scope, ...] = DEFAULT_SCOPES) -> str:
    """Store a new key for `owner` and return it: the only time it is ever seen."""
    key_id = secrets.token_hex(6)
    key = f"jt_{key_id}_{secrets.token_urlsafe(32)}"
    params = {"key_id": key_id, "owner": owner, "scopes": [str(s) for s in scopes], "secret_hash": hash_key(key)}
    await conn.execute(INSERT, params)
    return key


async def authenticate(conn: AsyncConnection, key: str) -> Principal | None:
    cursor = await conn.execute(FIND, {"secret_hash": hash_key(key)})
    found = await cursor.fetchone()
    if found is None:
        return None
    key_id, owner, scopes = found
    return Principal(key_id, owner, frozenset(Scope(s) for s in scopes))


async def authenticate_with_job(conn: AsyncConnection, key: str, stream_id: UUID) -> tuple[Principal | None, JobState]:
    """The caller and the job (INITIAL if absent), in one query."""
    found = await (await conn.execute(LOAD_WITH_KEY, {"secret_hash": hash_key(key), "stream_id": stream_id})).fetchone()
    if found is None:
        return None, INITIAL
    key_id, owner, scopes, state = found
    return Principal(key_id, owner, frozenset(Scope(s) for s in scopes)), state_of(state)


async def list_keys(conn: AsyncConnection) -> list[KeyInfo]:
    cursor = await conn.execute(LIST)
    return [KeyInfo(*row) for row in await cursor.fetchall()]


async def revoke_key(conn: AsyncConnection, key_id: str) -> bool:
    cursor = await conn.execute(REVOKE, {"key_id": key_id})
    return await cursor.fetchone() is not None
