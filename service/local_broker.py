"""The local QStash broker `jobtrail serve` runs when no QSTASH_TOKEN is set, and its rescue.

One per `serve`, however many processes serve the API: it runs in the process that
`serve` started as (the supervisor, with --workers), on the port `serve` bound before
anything else, and every serving process talks to it by its URL with the dev
credentials, as it would to `jobtrail qstash-dev`.

It keeps its messages in memory, so it starts empty: the runs and notifications it held
for an earlier `serve` died with it. Whoever runs it therefore re-sends them
(`resend_lost_runs`, `resend_lost_notifications`), once the database answers.

Scaled (JOBTRAIL_BROKER_TIME_SCALE, a test facility), its schedules run on a virtual
clock; it hands that clock out (`LocalBroker.schedule_clock`) for a serving process in
its own process to derive schedule ticks from, so that a scaled minute is a tick.
"""

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime

import msgspec
import structlog
import uvicorn
from qstash import AsyncQStash

from service import collector
from service.clock import now
from service.jobs.observers import STANDALONE
from service.live.event_feed import notify
from service.qstash.sweeper import in_flight, rescue_stalled
from service.settings import Settings
from service.store import notifications
from service.store.database import create_pool

logger = logging.getLogger("jobtrail.broker")

# The most runs re-sent at start; any beyond are left to the sweeper.
RESEND_LIMIT = 10_000
# The most notifications re-sent at start; any beyond stay lost (docs/notifications.md).
RESEND_NOTIFICATIONS_LIMIT = 10_000
LOST_NOTE = "re-sent: the local broker that held it was stopped before its outcome was known"


class LocalBroker(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    # The virtual clock of a scaled broker's schedules; None at scale 1 (the wall clock).
    schedule_clock: Callable[[], datetime] | None = None


class _QuietServer(uvicorn.Server):
    """uvicorn's server takes SIGINT/SIGTERM for itself; the broker must not: the process
    that runs it stops it last, after the service that publishes to it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def local_broker(settings: Settings, sock: socket.socket) -> AsyncIterator[LocalBroker]:
    """The broker, serving on `sock` (bound by the caller) until the block ends."""
    from service.broker.app import create_broker
    from service.broker.config import BrokerConfig, Faults

    config = BrokerConfig(
        token=settings.token,
        current_signing_key=settings.signing_keys[0],
        next_signing_key=settings.signing_keys[1],
        time_scale=settings.broker_time_scale,
        retention_s=settings.broker_retention_s,
        faults=Faults(
            duplicate_deliveries="duplicate" in settings.broker_faults,
            shuffle="shuffle" in settings.broker_faults,
        ),
    )
    app = create_broker(config, configure_logging=False)
    server = _QuietServer(
        uvicorn.Config(
            app,
            log_level=None,  # uvicorn's loggers are shared: the service's server sets their level
            log_config=None,  # its lines go through the service's renderer
            timeout_graceful_shutdown=3,
        )
    )

    async def serve() -> None:
        # uvicorn's lines read the same from either server: these say whose they are.
        structlog.contextvars.bind_contextvars(server="local QStash broker")
        await server.serve(sockets=[sock])

    task = asyncio.create_task(serve())
    while not server.started:
        if task.done():
            await task  # raises why it could not start
            raise RuntimeError("the local QStash broker did not start")
        await asyncio.sleep(0.01)
    host, port = sock.getsockname()[:2]
    try:
        clock = app.state.broker.scheduler.now if config.time_scale != 1 else None
        with collector.tuned_for_serving():  # with --workers, the supervisor's own process
            yield LocalBroker(url=f"http://{host}:{port}", schedule_clock=clock)
    finally:
        server.should_exit = True
        await task


async def resend_lost_runs(database_url: str, client: AsyncQStash, since: datetime) -> int:
    """Send again the runs handed to an earlier broker: those of active jobs that have not
    moved, and whose last run went out, before this broker started at `since`.

    The sweeper's rescue, with `since` as its threshold: a run published to this broker
    is never taken for a lost one, so the rescue is safe at any moment, alongside serving
    processes that already publish and deliver. Each re-send goes through the job's
    version check, and only when this broker does not hold the message, so a job that
    moved meanwhile is left alone and a run is sent once.
    """
    pool = create_pool(database_url, max_size=2)
    await pool.open(wait=True)
    try:
        quiet_s = max((now() - since).total_seconds(), 0.0)
        # STANDALONE: no feed here; the re-sends reach the serving processes' relays by NOTIFY.
        resent = await rescue_stalled(pool, client, quiet_s, RESEND_LIMIT, STANDALONE)
    finally:
        await pool.close()
    if resent:
        logger.warning("re-sent %d run(s) lost with an earlier local broker's queue", resent)
    return resent


async def resend_lost_notifications(database_url: str, client: AsyncQStash, since: datetime) -> int:
    """Queue again the notifications handed to an earlier broker and never settled: those
    published before this broker started at `since`, neither delivered nor failed.

    Like `resend_lost_runs`, safe beside serving processes: a row published to this broker
    is never among them, one still held by it (were it) is left alone, and a row whose
    outcome arrives meanwhile is not touched. The relays publish them again, under the
    same webhook-id: a receiver that got one just before the broker died gets it twice,
    as at-least-once allows."""
    pool = create_pool(database_url, max_size=2)
    await pool.open(wait=True)
    requeued = 0
    try:
        quiet_s = max((now() - since).total_seconds(), 0.0)
        async with pool.connection() as conn:
            rows = await notifications.lost(conn, quiet_s, RESEND_NOTIFICATIONS_LIMIT)
        for row_id, message_id in rows:
            if await in_flight(client, message_id):
                continue
            async with pool.connection() as conn:
                requeued += await notifications.requeue_lost(conn, row_id, message_id, LOST_NOTE)
        if requeued:
            async with pool.connection() as conn:
                await notify(conn, None, queued=False, notified=True)  # the serving processes' relays
    finally:
        await pool.close()
    if requeued:
        logger.warning("re-sending %d notification(s) lost with an earlier local broker's queue", requeued)
    return requeued
