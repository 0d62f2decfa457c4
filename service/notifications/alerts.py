"""Alerts to operators: one signed message to JOBTRAIL_ALERT_URL each time the health
verdict (the one /v1/stats gives, service/health/verdict.py) changes and holds.

Every serving process checks every JOBTRAIL_ALERT_CHECK_S, and each check runs under the
lock of the one `health_alerts` row: the first process to see a change that has held for
JOBTRAIL_ALERT_HOLD_S announces it, queuing the message in that same transaction, and
the rest find it announced. The message goes out through the notification relay, signed
with JOBTRAIL_ALERT_SECRET, with QStash's retries. Its id is the announcement's instant,
the same however often its publish is repeated.
"""

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from psycopg_pool import AsyncConnectionPool

from service import clock
from service.health import stats
from service.health.verdict import judge
from service.notifications.debounce import step
from service.qstash.broker_status import BrokerStatus
from service.qstash.self_probe import ProbeStatus
from service.settings import Settings
from service.store import health_alerts, notifications

logger = logging.getLogger("jobtrail.alerts")

WINDOW_S = 3600  # the figures judged are /v1/stats' defaults: the last hour
SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


async def check(pool: AsyncConnectionPool, settings: Settings, verdict: str, reasons: list[str], now: datetime) -> bool:
    """Record what this process sees; True when this call announced a change."""
    assert settings.alert_url is not None
    async with pool.connection() as conn, conn.transaction():
        before = await health_alerts.locked(conn)
        after, announce = step(before, verdict, now, settings.alert_hold_s)
        if after != before:
            await health_alerts.save(conn, after, announcing=announce)
        if announce:
            body = {
                "type": "health.verdict_changed",
                "verdict": verdict,
                "previous": before.announced,
                "reasons": reasons,
                "at": now.isoformat(),
            }
            webhook_id = f"alert_{int(now.timestamp() * 1000)}_{verdict}"
            await notifications.queue_alert(conn, webhook_id, settings.alert_url, body)
    if announce:
        logger.info("health verdict %s announced (was %s)", verdict, before.announced)
    return announce


async def current_verdict(
    pool: AsyncConnectionPool, settings: Settings, broker: BrokerStatus | None, probe: ProbeStatus | None
) -> tuple[str, list[str]]:
    now = clock.now()
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(SNAPSHOT)
        finished = await stats.finished(conn, now - timedelta(seconds=WINDOW_S), None)
        stuck = await stats.stuck(conn, now, settings.report_stuck_after_s, None)
        backlog = await stats.backlog(conn)
        lag = await stats.lag(conn)
    return judge(finished, stuck, backlog, lag, broker.health if broker else None, probe.health if probe else None)


class AlertWatch:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        settings: Settings,
        broker: BrokerStatus | None = None,
        probe: ProbeStatus | None = None,
    ) -> None:
        self.pool, self.settings, self.broker, self.probe = pool, settings, broker, probe

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                verdict, reasons = await current_verdict(self.pool, self.settings, self.broker, self.probe)
                await check(self.pool, self.settings, verdict, reasons, clock.now())
            except Exception:
                logger.exception("health alert check failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.alert_check_s):
                    await stop.wait()
