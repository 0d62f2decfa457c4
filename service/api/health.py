"""Liveness and readiness: no key needed, nothing secret said."""

from litestar import Response, get
from psycopg_pool import AsyncConnectionPool

from service.migrate import pending


@get("/healthz", tags=["health"], summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", tags=["health"], summary="The database answers and migrations are current")
async def readyz(pool: AsyncConnectionPool, database_url: str) -> Response[dict[str, str]]:
    try:
        async with pool.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")
        missing = await pending(database_url)
    except Exception:
        return Response({"status": "unavailable", "reason": "the database does not answer"}, status_code=503)
    if missing:
        return Response({"status": "unavailable", "reason": f"{len(missing)} migration(s) pending"}, status_code=503)
    return Response({"status": "ready"})
