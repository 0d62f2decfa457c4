"""The nonces of self-probes that arrived (migrations/0013_delivery_probes.sql)."""

from psycopg import AsyncConnection

RECORD = "INSERT INTO delivery_probes (nonce) VALUES (%(nonce)s) ON CONFLICT DO NOTHING"
ANY_ARRIVED = "SELECT EXISTS (SELECT FROM delivery_probes WHERE nonce = ANY(%(nonces)s))"
FORGET = """
DELETE FROM delivery_probes
 WHERE nonce = ANY(%(nonces)s) OR arrived_at < now() - make_interval(secs => %(keep_s)s)
"""
KEEP_S = 3600.0


async def record(conn: AsyncConnection, nonce: str) -> None:
    """A probe arrived here; a copy of it changes nothing."""
    await conn.execute(RECORD, {"nonce": nonce})


async def any_arrived(conn: AsyncConnection, nonces: list[str]) -> bool:
    row = await (await conn.execute(ANY_ARRIVED, {"nonces": nonces})).fetchone()
    return bool(row and row[0])


async def forget(conn: AsyncConnection, nonces: list[str], keep_s: float = KEEP_S) -> None:
    """Drop `nonces`, and any probe older than `keep_s` (its sender is gone)."""
    await conn.execute(FORGET, {"nonces": nonces, "keep_s": keep_s})
