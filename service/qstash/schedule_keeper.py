"""The sweep schedule, kept in place from the background rather than created once at start.

A check asks QStash for the schedule and creates it when it is missing or differs (another
destination or cron): at start, then every `interval_s`. So `serve` starts while QStash is
unreachable (the outbox holds the runs meanwhile) and the schedule appears once QStash
answers; and a broker that lost its schedules (a restarted `jobtrail qstash-dev` keeps
them in memory) has it again within one interval. Every process keeps it under the same
id, and creating under an id overwrites, so processes never make two. Each check tells
BrokerStatus whether QStash answered.
"""

import asyncio
import contextlib
import logging

from qstash import AsyncQStash
from qstash.errors import QStashError

from service.qstash.broker_status import BrokerStatus

logger = logging.getLogger("jobtrail.qstash")

SWEEP_SCHEDULE_ID = "jobtrail-sweep"
SWEEP_CRON = "* * * * *"
# A QStash that takes connections but never answers must not leave the state as it was.
CHECK_TIMEOUT_S = 10.0


class ScheduleKeeper:
    def __init__(
        self,
        client: AsyncQStash,
        public_url: str,
        status: BrokerStatus,
        interval_s: float,
        timeout_s: float = CHECK_TIMEOUT_S,
    ) -> None:
        self.client, self.status, self.interval_s, self.timeout_s = client, status, interval_s, timeout_s
        self.destination = f"{public_url.rstrip('/')}/qstash/sweep"

    async def check(self) -> None:
        """One check: the schedule is in place afterwards, or QStash did not answer."""
        try:
            async with asyncio.timeout(self.timeout_s):
                if not await self._in_place():
                    await self.client.schedule.create(
                        destination=self.destination, cron=SWEEP_CRON, schedule_id=SWEEP_SCHEDULE_ID
                    )
                    logger.info("the sweep schedule %s is in place (%s)", SWEEP_SCHEDULE_ID, SWEEP_CRON)
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

    async def run(self, stop: asyncio.Event) -> None:
        """Check now and every `interval_s` until `stop` is set."""
        while not stop.is_set():
            await self.check()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    await stop.wait()
