"""The schedule loop: once per (scaled) minute, every due, unpaused schedule publishes a message.

Schedules run on a virtual clock that starts at the wall clock and runs `1 / time_scale`
times faster, so at `time_scale=1` minutes are real UTC minutes and at 0.001 a minute passes
every 60 ms. `trigger_due(minute)` is the whole tick, callable directly by tests.
"""

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from service.broker.config import BrokerConfig
from service.broker.cron import parse_cron
from service.broker.publishing import Publisher
from service.broker.records import MessageSpec, Schedule, new_schedule_id
from service.broker.store import Store

MAX_LAST_STATES = 10


class Scheduler:
    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        config: BrokerConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._scale = config.time_scale
        self._clock = clock
        self._start = clock()

    def now(self) -> datetime:
        """The virtual schedule time."""
        elapsed = (self._clock() - self._start) / self._scale
        return datetime.fromtimestamp(self._start + elapsed, UTC)

    def save(
        self,
        schedule_id: str | None,
        cron_text: str,
        spec: MessageSpec,
        caller_ip: str | None,
    ) -> Schedule:
        """Create, or overwrite an existing id keeping its creation time (§5)."""
        cron = parse_cron(cron_text)
        schedule_id = schedule_id or new_schedule_id()
        previous = self._store.schedules.get(schedule_id)
        schedule = Schedule(
            schedule_id=schedule_id,
            cron_text=cron_text,
            cron=cron,
            spec=spec,
            created_at_ms=previous.created_at_ms if previous else int(self._clock() * 1000),
            caller_ip=caller_ip,
            paused=previous.paused if previous else False,
        )
        self._plan(schedule, self.now())
        self._store.schedules[schedule_id] = schedule
        return schedule

    def trigger_due(self, minute: datetime) -> list[str]:
        """Publish one message per unpaused schedule whose cron matches `minute`; their ids."""
        minute = minute.replace(second=0, microsecond=0)
        published = []
        for schedule in list(self._store.schedules.values()):
            if schedule.paused or not schedule.cron.matches(minute):
                continue
            result = self._publisher.publish(
                schedule.spec,
                schedule_id=schedule.schedule_id,
                caller_ip=schedule.caller_ip,
            )
            schedule.last_schedule_time_ms = int(minute.timestamp() * 1000)
            schedule.last_states = {
                result.message_id: "IN_PROGRESS",
                **schedule.last_states,
            }
            schedule.last_states = dict(list(schedule.last_states.items())[:MAX_LAST_STATES])
            self._plan(schedule, minute)
            published.append(result.message_id)
        return published

    async def run(self) -> None:
        minute = self.now().replace(second=0, microsecond=0)
        while True:
            minute += timedelta(minutes=1)
            await asyncio.sleep(max(0.0, self._real_time(minute) - self._clock()))
            self.trigger_due(minute)

    def _real_time(self, moment: datetime) -> float:
        return self._start + (moment.timestamp() - self._start) * self._scale

    @staticmethod
    def _plan(schedule: Schedule, after: datetime) -> None:
        following = schedule.cron.next_after(after)
        schedule.next_schedule_time_ms = int(following.timestamp() * 1000) if following else None
