"""What runs beside the HTTP routes: the local broker (when no QStash token is set),
the QStash client, the outbox relay, the sweeper's schedule and the stats projection's
runner (the runner's row lock lets every process run it).

Started and stopped by the app's lifespan, so every service process runs its own
relay (they share the outbox safely) and nothing is created at import time.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

import psycopg
import uvicorn
from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash

from projections.runner import follow
from projections.stats import StatsProjection
from service.jobs.kinds import Kind
from service.live.event_feed import EventFeed
from service.qstash.client import qstash_client
from service.qstash.relay import Relay
from service.settings import Settings
from service.store.outage import DatabaseUnavailable, Outage

logger = logging.getLogger("jobtrail.background")

SWEEP_SCHEDULE_ID = "jobtrail-sweep"
SWEEP_CRON = "* * * * *"


@contextlib.asynccontextmanager
async def local_broker(settings: Settings) -> AsyncIterator[str]:
    """The in-process QStash stand-in; yields its base URL."""
    from service.broker.app import create_broker
    from service.broker.config import BrokerConfig, Faults

    config = BrokerConfig(
        token=settings.token,
        current_signing_key=settings.signing_keys[0],
        next_signing_key=settings.signing_keys[1],
        time_scale=settings.broker_time_scale,
        faults=Faults(
            duplicate_deliveries="duplicate" in settings.broker_faults,
            shuffle="shuffle" in settings.broker_faults,
        ),
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_broker(config, configure_logging=False),
            host="127.0.0.1",
            port=settings.broker_port,
            log_level="warning",
            log_config=None,  # its lines go through the app's renderer
            timeout_graceful_shutdown=3,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task  # raises why it could not start (e.g. the port is taken)
            raise RuntimeError(f"the local QStash broker could not listen on port {settings.broker_port}")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def project_stats(database_url: str, stop: asyncio.Event, outage: Outage, retry_s: float = 1.0) -> None:
    """Tail the log into the stats view until `stop`; a failed round is retried on a new
    connection (the checkpoint did not move, so nothing is lost or folded twice)."""
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
                outage.recovered()
                await follow(conn, StatsProjection(), stop)
        except DatabaseUnavailable as error:
            outage.failed("the stats projection", error)
        except Exception:
            logger.exception("stats projection round failed")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(retry_s):
                await stop.wait()


@contextlib.asynccontextmanager
async def background(
    settings: Settings,
    pool: AsyncConnectionPool,
    database_url: str,
    kinds: Mapping[str, Kind],
    feed: EventFeed,
    outage: Outage,
) -> AsyncIterator[AsyncQStash]:
    async with contextlib.AsyncExitStack() as stack:
        qstash_url = settings.qstash_url
        if settings.embedded_broker:
            qstash_url = await stack.enter_async_context(local_broker(settings))
        client = qstash_client(settings.token, qstash_url, in_process_broker=settings.embedded_broker)
        await client.schedule.create(
            destination=f"{settings.public_url.rstrip('/')}/qstash/sweep",
            cron=SWEEP_CRON,
            schedule_id=SWEEP_SCHEDULE_ID,
        )
        stop = asyncio.Event()
        relay = Relay(pool, client, kinds, settings.public_url, outage)
        task = asyncio.create_task(relay.run(feed.outbox_queued, stop))
        stats_task = asyncio.create_task(project_stats(database_url, stop, outage))
        try:
            yield client
        finally:
            stop.set()
            feed.outbox_queued.set()
            await task
            await stats_task
