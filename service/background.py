"""What runs beside the HTTP routes in every serving process: the QStash clients, the
outbox relay, the keeper of the sweeper's schedule, the stats projection's runner, the
self-probe of deliveries, and the audit log's Merkle tree and checkpoint issuer.

Each is safe with any number of processes: the relay's claims lease disjoint outbox rows
(SKIP LOCKED), the stats runner folds under its checkpoint's row lock, every keeper keeps
the one schedule under one id, and each process's self-probe counts wherever it lands.
Started by the app's lifespan once the database answers, and stopped by it; nothing is
created at import time. The local broker is not here: `serve` runs one for all its
processes (service/local_broker.py), and they reach it at `settings.broker_url`.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

import psycopg
from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash

from projections.runner import follow
from projections.stats import StatsProjection
from service.audit.issuer import grow_tree, issue_checkpoints
from service.audit.signing_key import load_signer
from service.jobs.kinds import Kind
from service.live.event_feed import EventFeed
from service.notifications.alerts import AlertWatch
from service.notifications.secrets import secret_box
from service.qstash.broker_status import BrokerStatus
from service.qstash.client import close_client, qstash_client
from service.qstash.notify_relay import NotificationRelay
from service.qstash.relay import Relay
from service.qstash.schedule_keeper import ScheduleKeeper
from service.qstash.self_probe import ProbeStatus, SelfProbe
from service.settings import Settings
from service.store.outage import DatabaseUnavailable, Outage

logger = logging.getLogger("jobtrail.background")

# How long stopping waits for a task told to stop before cancelling it: well inside the
# margin the supervisor allows a worker after its requests (service/cli/workers.py).
STOP_GRACE_S = 3.0


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
    broker_status: BrokerStatus,
    probe_status: ProbeStatus,
) -> AsyncIterator[AsyncQStash]:
    """Yields the relay's QStash client (the sweep route asks it which messages QStash holds).

    Stopping runs in reverse: the tasks first (they may be mid-publish), then the clients.
    """
    async with contextlib.AsyncExitStack() as stack:
        # To the local broker `serve` runs, the lighter transport (it is on loopback).
        local = settings.embedded_broker
        client = qstash_client(settings.token, settings.broker_url, local_broker=local)
        stack.push_async_callback(close_client, client)
        # The keeper's and the probe's own client, so that they never wait behind the relay's publishes.
        checks_client = qstash_client(settings.token, settings.broker_url, local_broker=local)
        stack.push_async_callback(close_client, checks_client)
        keeper = ScheduleKeeper(
            checks_client,
            settings.base_url,
            broker_status,
            settings.schedule_check_s,
            pool=pool,
            woken=feed.schedules_changed,  # a schedule changed here: bring QStash in line now
        )
        relay = Relay(pool, client, kinds, settings.base_url, outage, batch_max=settings.relay_batch)
        probe = SelfProbe(pool, checks_client, settings.base_url, probe_status)
        notifier = NotificationRelay(pool, client, settings, secret_box(settings))
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(relay.run(feed.outbox_queued, stop), name="relay"),
            asyncio.create_task(keeper.run(stop), name="schedule keeper"),
            asyncio.create_task(project_stats(database_url, stop, outage), name="stats projection"),
            asyncio.create_task(probe.run(stop), name="delivery probe"),
            asyncio.create_task(grow_tree(database_url, stop, outage), name="merkle tree"),
            asyncio.create_task(
                issue_checkpoints(pool, load_signer(settings), settings.checkpoint_s, stop, outage),
                name="checkpoint issuer",
            ),
            # Notifications (docs/notifications.md): job-finished webhooks and verdict alerts.
            asyncio.create_task(notifier.run(feed.notifications_queued, stop), name="notification relay"),
        ]
        if settings.alert_url is not None:
            watch = AlertWatch(pool, settings, broker_status, probe_status, queued=feed.notification_queued)
            tasks.append(asyncio.create_task(watch.run(stop), name="alert watch"))
        try:
            yield client
        finally:
            stop.set()
            feed.outbox_queued.set()
            feed.notifications_queued.set()
            await _finish(tasks, STOP_GRACE_S)


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
