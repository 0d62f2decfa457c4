"""QStash's schedules, kept in line with jobtrail's from the background rather than set once.

A check puts the sweep schedule in place (created when missing or different), then
reconciles the jobtrail schedules: every schedule not deleted has a QStash schedule under
its own id that fires `/qstash/schedules/{id}/fire` on `CRON_TZ=<zone> <cron>`, paused as
it is; a QStash schedule whose id is a UUID that names no live schedule is an orphan and is
deleted; any other id (the sweep's, someone else's) is left alone. Checks run at start,
every `interval_s`, and at once when `wake()` is rung (a schedule was changed). So `serve`
starts while QStash is unreachable and catches up once it answers, and a broker that lost
its schedules (a restarted `jobtrail qstash-dev` keeps them in memory) has them again at
the next check. Creating under an id overwrites, so processes checking at once never make
two. Each check tells BrokerStatus whether QStash answered.

QStash is listed before the database is read: a schedule another process creates in
between is then either absent from the listing or present in the database, never taken
for an orphan.
"""

import asyncio
import contextlib
import logging
from uuid import UUID

from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash
from qstash.errors import QStashError
from qstash.schedule import Schedule

from projections import schedules
from projections.schedules import Listed
from service.qstash.broker_status import BrokerStatus

logger = logging.getLogger("jobtrail.qstash")

SWEEP_SCHEDULE_ID = "jobtrail-sweep"
SWEEP_CRON = "* * * * *"
# A QStash that takes connections but never answers must not leave the state as it was.
CHECK_TIMEOUT_S = 10.0


def qstash_cron(schedule: Listed) -> str:
    """The schedule's cron as QStash reads it: in its zone."""
    return f"CRON_TZ={schedule.time_zone} {schedule.cron}"


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


class ScheduleKeeper:
    def __init__(
        self,
        client: AsyncQStash,
        public_url: str,
        status: BrokerStatus,
        interval_s: float,
        timeout_s: float = CHECK_TIMEOUT_S,
        pool: AsyncConnectionPool | None = None,
        woken: asyncio.Event | None = None,
    ) -> None:
        self.client, self.status, self.interval_s, self.timeout_s = client, status, interval_s, timeout_s
        self.pool = pool  # without one, only the sweep schedule is kept
        self.public_url = public_url.rstrip("/")
        self.destination = f"{self.public_url}/qstash/sweep"
        self._woken = woken or asyncio.Event()  # rung by the app (EventFeed.schedules_changed)

    def fire_url(self, schedule_id: UUID | str) -> str:
        return f"{self.public_url}/qstash/schedules/{schedule_id}/fire"

    def wake(self) -> None:
        """Check now rather than at the end of the interval."""
        self._woken.set()

    async def check(self) -> None:
        """One check: QStash's schedules are in line afterwards, or QStash did not answer."""
        try:
            async with asyncio.timeout(self.timeout_s):
                if not await self._in_place():
                    await self.client.schedule.create(
                        destination=self.destination, cron=SWEEP_CRON, schedule_id=SWEEP_SCHEDULE_ID
                    )
                    logger.info("the sweep schedule %s is in place (%s)", SWEEP_SCHEDULE_ID, SWEEP_CRON)
                if self.pool is not None:
                    await self._reconcile(self.pool)
        except Exception as error:  # unreachable, silent, or refusing: the next check tries again
            self.status.failed(error)
        else:
            self.status.answered()

    async def _in_place(self) -> bool:
        try:
            schedule = await self.client.schedule.get(SWEEP_SCHEDULE_ID)
        except QStashError as error:
            # The SDK raises one error type for every status; only a 404 means "none".
            if "status: 404" in str(error):
                return False
            raise
        return schedule.destination == self.destination and schedule.cron == SWEEP_CRON

    async def _reconcile(self, pool: AsyncConnectionPool) -> None:
        held = {schedule.schedule_id: schedule for schedule in await self.client.schedule.list()}
        try:
            async with pool.connection() as conn:
                live = {str(schedule.schedule_id): schedule for schedule in await schedules.live(conn)}
        except Exception:  # the database is down: QStash answered, and nothing is known to repair
            logger.warning("schedule reconciliation skipped: the schedules could not be read", exc_info=True)
            return
        for schedule_id, schedule in live.items():
            await self._sync(schedule, held.get(schedule_id))
        for schedule_id in held.keys() - live.keys():
            if _is_uuid(schedule_id):
                await self.client.schedule.delete(schedule_id)
                logger.info("deleted QStash schedule %s: no such jobtrail schedule", schedule_id)

    async def _sync(self, schedule: Listed, held: Schedule | None) -> None:
        schedule_id, cron, url = str(schedule.schedule_id), qstash_cron(schedule), self.fire_url(schedule.schedule_id)
        paused: bool | None = held.paused if held is not None else None
        if held is None or held.destination != url or held.cron != cron:
            await self.client.schedule.create(destination=url, cron=cron, schedule_id=schedule_id)
            logger.info("QStash schedule %s is in place (%s)", schedule_id, cron)
            # A new one runs; an overwritten one may keep or lose its pause, so say which.
            paused = False if held is None else None
        if schedule.paused and paused is not True:
            await self.client.schedule.pause(schedule_id)
        elif not schedule.paused and paused is not False:
            await self.client.schedule.resume(schedule_id)

    async def run(self, stop: asyncio.Event) -> None:
        """Check now, then every `interval_s` or when woken, until `stop` is set."""
        while not stop.is_set():
            self._woken.clear()
            await self.check()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    stopped = asyncio.ensure_future(stop.wait())
                    woken = asyncio.ensure_future(self._woken.wait())
                    try:
                        await asyncio.wait((stopped, woken), return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        stopped.cancel()
                        woken.cancel()
