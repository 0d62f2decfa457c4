"""Liveness and readiness: no key needed, nothing secret said."""

from typing import Literal

import msgspec
from litestar import Response, get
from litestar.openapi.datastructures import ResponseSpec

from service.api.dependencies import DatabaseUrl, Pool
from service.api.problems import problem_responses
from service.store.migrate import pending
from service.store.write_probe import write_refused


class Health(msgspec.Struct, frozen=True, omit_defaults=True):
    status: Literal["ok", "ready", "unavailable"]
    reason: str | None = None


_UNAVAILABLE = ResponseSpec(
    data_container=Health,
    description="The database does not answer or refuses writes, or migrations are pending",
    generate_examples=False,
)


@get("/healthz", tags=["health"], summary="The process is alive", responses=problem_responses())
async def healthz() -> Health:
    return Health("ok")


@get(
    "/readyz",
    tags=["health"],
    summary="The database takes writes and migrations are current",
    responses={**problem_responses(), 503: _UNAVAILABLE},
)
async def readyz(pool: Pool, database_url: DatabaseUrl) -> Response[Health]:
    try:
        async with pool.connection(timeout=2) as conn:
            refused = await write_refused(conn)  # a full disk still answers SELECT 1
        missing = await pending(database_url)
    except Exception:
        return Response(Health("unavailable", "the database does not answer"), status_code=503)
    if refused:
        return Response(Health("unavailable", refused), status_code=503)
    if missing:
        return Response(Health("unavailable", f"{len(missing)} migration(s) pending"), status_code=503)
    return Response(Health("ready"))
