"""Liveness and readiness: no key needed, nothing secret said.

Not ready until the process has reached its database at start (service/store/database_start.py),
and whenever the database does not take writes or lacks a migration.

QStash not answering leaves the service ready: reads work, and new jobs are accepted with
their runs held in the outbox until it answers. /readyz says so in `broker` (the process's
last check), so a load balancer keeps the API in service through a QStash outage. A failed
self-probe (deliveries to the public URL reach somebody else) leaves it ready too and says
so in `deliveries`: the probe comes through the load balancer, which must keep sending it
here (service/qstash/self_probe.py).
"""

from typing import Literal

import msgspec
from litestar import Response, get
from litestar.openapi.datastructures import ResponseSpec

from service.api.dependencies import Broker, DatabaseStarting, DatabaseUrl, DeliveryProbe, Pool
from service.api.problems import problem_responses
from service.qstash.broker_status import BrokerHealth
from service.qstash.self_probe import ProbeHealth
from service.store.migrate import pending
from service.store.write_probe import write_refused


class Health(msgspec.Struct, frozen=True, omit_defaults=True):
    status: Literal["ok", "ready", "unavailable"]
    reason: str | None = None
    broker: BrokerHealth | None = None  # QStash, as this process last found it
    deliveries: ProbeHealth | None = None  # whether QStash's deliveries reach this service


_UNAVAILABLE = ResponseSpec(
    data_container=Health,
    description="The database has not been reached yet, does not answer or refuses writes, or migrations are pending",
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
async def readyz(
    pool: Pool,
    database_url: DatabaseUrl,
    broker_status: Broker,
    delivery_probe: DeliveryProbe,
    database_start: DatabaseStarting,
) -> Response[Health]:
    if not database_start.ready:
        return Response(Health("unavailable", database_start.reason), status_code=503)
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
    return Response(
        Health(
            "ready",
            broker=broker_status.health if broker_status else None,
            deliveries=delivery_probe.health if delivery_probe else None,
        )
    )
