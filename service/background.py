"""What runs beside the HTTP routes: the local broker (when no QStash token is set),
the QStash clients, the outbox relay, the keeper of the sweeper's schedule and the stats
projection's runner (the runner's row lock lets every process run it).

Started and stopped by the app's lifespan, so every service process runs its own
relay (they share the outbox safely) and nothing is created at import time.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Mapping

import httpx
import psycopg
import uvicorn
from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash

from projections.runner import follow
from projections.stats import StatsProjection
from service.jobs.kinds import Kind
from service.jobs.observers import Observers
from service.live.event_feed import EventFeed
from service.qstash.broker_status import BrokerStatus
from service.qstash.client import qstash_client
from service.qstash.relay import Relay
from service.qstash.schedule_keeper import ScheduleKeeper
from service.qstash.sweeper import rescue_stalled
from service.settings import Settings
from service.store.outage import DatabaseUnavailable, Outage

logger = logging.getLogger("jobtrail.background")

# How long stopping waits for a task told to stop before cancelling it: well inside the 10 s
# `serve` allows for the whole shutdown.
STOP_GRACE_S = 3.0
# The most runs re-sent at start; any beyond are left to the sweeper.
RESEND_LIMIT = 10_000


class _EmbeddedServer(uvicorn.Server):
    """uvicorn's server takes SIGINT/SIGTERM for itself, and the one started last wins: this one
    would stop first, under the relay. The host server takes them and stops this one last."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


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
    server = _EmbeddedServer(
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
    *,
    observers: Observers,
    broker_status: BrokerStatus,
) -> AsyncIterator[AsyncQStash]:
    """Yields the relay's QStash client (the sweep route asks it which messages QStash holds).

    Stopping runs in reverse: the tasks first (they may be mid-publish), then the clients,
    and the in-process broker last, so nothing talks to a broker that has gone.
    """
    async with contextlib.AsyncExitStack() as stack:
        qstash_url = settings.qstash_url
        if settings.embedded_broker:
            qstash_url = await stack.enter_async_context(local_broker(settings))
        client = qstash_client(settings.token, qstash_url, in_process_broker=settings.embedded_broker)
        stack.push_async_callback(_close, client)
        # The keeper's own client, so that its checks never wait behind the relay's publishes.
        keeper_client = qstash_client(settings.token, qstash_url, in_process_broker=settings.embedded_broker)
        stack.push_async_callback(_close, keeper_client)
        if settings.embedded_broker:
            await resend_lost_runs(pool, client, observers)
        keeper = ScheduleKeeper(keeper_client, settings.public_url, broker_status, settings.schedule_check_s)
        relay = Relay(pool, client, kinds, settings.public_url, outage)
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(relay.run(feed.outbox_queued, stop), name="relay"),
            asyncio.create_task(keeper.run(stop), name="schedule keeper"),
            asyncio.create_task(project_stats(database_url, stop, outage), name="stats projection"),
        ]
        try:
            yield client
        finally:
            stop.set()
            feed.outbox_queued.set()
            await _finish(tasks, STOP_GRACE_S)


async def resend_lost_runs(pool: AsyncConnectionPool, client: AsyncQStash, observers: Observers) -> None:
    """An in-process broker starts empty: the runs it held for an earlier process are gone.

    The sweeper would notice each only after JOBTRAIL_REDISPATCH_AFTER_S; its rescue with no
    wait sends them at once instead, before the relay starts and before any request. Each
    goes through the job's version check, so a job that moved meanwhile (another process
    delivered its run) is left alone, and a run is never sent twice for one stall.
    """
    try:
        resent = await rescue_stalled(pool, client, 0.0, RESEND_LIMIT, observers)
    except Exception:  # the sweeper rescues them later
        logger.exception("re-sending the runs lost with the in-process broker failed")
        return
    if resent:
        logger.warning("re-sent %d run(s) lost with the in-process broker's queue", resent)


async def _close(client: AsyncQStash) -> None:
    """The SDK has no close of its own: close the httpx client it keeps (and its transport)."""
    http = getattr(getattr(client, "http", None), "_client", None)
    if isinstance(http, httpx.AsyncClient):
        await http.aclose()


async def _finish(tasks: list[asyncio.Task], grace_s: float) -> None:
    """Wait up to `grace_s` for tasks told to stop, then cancel those still busy (a publish
    retrying against an unreachable QStash): whatever they held is re-sent later."""
    _, busy = await asyncio.wait(tasks, timeout=grace_s)
    for task in busy:
        logger.warning("%s did not stop within %.0f s: cancelled", task.get_name(), grace_s)
        task.cancel()
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, Exception):
            logger.error("a background task ended with an error", exc_info=outcome)
