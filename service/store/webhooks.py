"""An owner's webhook endpoints and notify_url secret: the only statements on their tables.

Secrets arrive and leave sealed (service/notifications/secrets.py); every statement names
the owner, so one tenant never reaches another's endpoint.
"""

from datetime import datetime
from uuid import UUID

import msgspec
from psycopg import AsyncConnection


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    url: str
    kinds: list[str] | None
    statuses: list[str] | None
    created_at: datetime
    rotated_at: datetime | None


CREATE = """
INSERT INTO webhook_endpoints (id, owner, url, kinds, statuses, secret)
VALUES (%(id)s, %(owner)s, %(url)s, %(kinds)s, %(statuses)s, %(secret)s)
RETURNING id, url, kinds, statuses, created_at, rotated_at
"""
LIST = """
SELECT id, url, kinds, statuses, created_at, rotated_at FROM webhook_endpoints
 WHERE owner = %(owner)s ORDER BY created_at, id
"""
DELETE = "DELETE FROM webhook_endpoints WHERE id = %(id)s AND owner = %(owner)s"
ROTATE = """
UPDATE webhook_endpoints SET secret = %(secret)s, rotated_at = now()
 WHERE id = %(id)s AND owner = %(owner)s
RETURNING id, url, kinds, statuses, created_at, rotated_at
"""
ENDPOINT_SECRET = "SELECT secret FROM webhook_endpoints WHERE id = %(id)s"
COUNT = "SELECT count(*) FROM webhook_endpoints WHERE owner = %(owner)s"

SET_NOTIFY_SECRET = """
INSERT INTO notify_secrets (owner, secret) VALUES (%(owner)s, %(secret)s)
ON CONFLICT (owner) DO UPDATE SET secret = EXCLUDED.secret, created_at = now()
"""
NOTIFY_SECRET = "SELECT secret FROM notify_secrets WHERE owner = %(owner)s"


def _endpoint(row: tuple) -> Endpoint:
    return Endpoint(id=row[0], url=row[1], kinds=row[2], statuses=row[3], created_at=row[4], rotated_at=row[5])


async def create(
    conn: AsyncConnection,
    endpoint_id: UUID,
    owner: str,
    url: str,
    kinds: list[str] | None,
    statuses: list[str] | None,
    sealed: bytes,
) -> Endpoint:
    params = {"id": endpoint_id, "owner": owner, "url": url, "kinds": kinds, "statuses": statuses, "secret": sealed}
    row = await (await conn.execute(CREATE, params)).fetchone()
    assert row is not None
    return _endpoint(row)


async def count(conn: AsyncConnection, owner: str) -> int:
    found = await (await conn.execute(COUNT, {"owner": owner})).fetchone()
    return found[0] if found else 0


async def list_endpoints(conn: AsyncConnection, owner: str) -> list[Endpoint]:
    return [_endpoint(row) for row in await (await conn.execute(LIST, {"owner": owner})).fetchall()]


async def delete(conn: AsyncConnection, owner: str, endpoint_id: UUID) -> bool:
    return (await conn.execute(DELETE, {"id": endpoint_id, "owner": owner})).rowcount == 1


async def rotate(conn: AsyncConnection, owner: str, endpoint_id: UUID, sealed: bytes) -> Endpoint | None:
    row = await (await conn.execute(ROTATE, {"id": endpoint_id, "owner": owner, "secret": sealed})).fetchone()
    return _endpoint(row) if row else None


async def endpoint_secret(conn: AsyncConnection, endpoint_id: UUID) -> bytes | None:
    """The sealed secret of an endpoint (None once deleted)."""
    row = await (await conn.execute(ENDPOINT_SECRET, {"id": endpoint_id})).fetchone()
    return row[0] if row else None


async def set_notify_secret(conn: AsyncConnection, owner: str, sealed: bytes) -> None:
    await conn.execute(SET_NOTIFY_SECRET, {"owner": owner, "secret": sealed})


async def notify_secret(conn: AsyncConnection, owner: str) -> bytes | None:
    row = await (await conn.execute(NOTIFY_SECRET, {"owner": owner})).fetchone()
    return row[0] if row else None
