"""One QStash fire of a schedule, at least once, creating at most one job per tick.

QStash's schedule delivers a signed request and no tick: the tick is derived from the
cron and the moment the fire arrives (domain.schedule.ticks). The guards are a job
delivery's (service/qstash/delivery.py): the token's `jti` is claimed first, a repeated
message id gets the answer recorded for it, and the answer is recorded in the inbox with
the events it caused. Beyond them, the tick guards itself: a copy under another message
id finds its tick already recorded and is a no-op, and a copy racing it to the append
meets the schedule's version, or the job's stream already created under the id both
derived, and decides again (service/schedules/command_handler.py).

`clock`, when given, tells the moment of delivery the tick is derived from, and nothing
else (recorded times and the job's deadlines keep the service's clock): in tests, the
virtual clock of a time-scaled local broker (service/local_broker.py), so that its scaled
minutes are the ticks' minutes.
"""

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from domain.schedule.commands import FireSchedule
from domain.schedule.errors import ScheduleNotFound
from domain.schedule.events import AnyScheduleEvent, ScheduleFired
from domain.schedule.lifecycle import ScheduleStatus
from domain.schedule.state import ScheduleState, has_ended
from projections.log import Metadata
from service.clock import now
from service.jobs.kinds import Kind
from service.jobs.observers import Observers
from service.qstash.delivery import Answer, duplicate, first_look, settle
from service.schedules.command_handler import handle
from service.store.event_store import DuplicateMessage, InboxEntry, load_with_answer

FIRED = "fired"


def _fired_entry(message_id: str, schedule_id: UUID) -> Any:
    def entry(events: list[AnyScheduleEvent]) -> InboxEntry:
        return InboxEntry(message_id=message_id, outcome=FIRED, response=_fired_detail(schedule_id, events))

    return entry


def _fired_detail(schedule_id: UUID, events: list[AnyScheduleEvent]) -> dict[str, Any]:
    fired = next(e for e in events if isinstance(e, ScheduleFired))
    detail: dict[str, Any] = {"schedule_id": str(schedule_id), "tick": fired.tick.isoformat()}
    if fired.job_id is not None:
        detail["job_id"] = str(fired.job_id)
    if fired.reason is not None:
        detail["reason"] = str(fired.reason)
    return detail


def _why_nothing(state: ScheduleState, at: Any) -> str:
    if state.status is not ScheduleStatus.ACTIVE:
        return f"schedule_{state.status}"
    if has_ended(state, at):
        return "schedule_ended"
    return "tick_already_fired"


async def fire(
    pool: AsyncConnectionPool,
    kinds: Mapping[str, Kind],
    observers: Observers,
    *,
    schedule_id: UUID,
    message_id: str,
    jti: str | None = None,
    retried: int = 0,
    clock: Callable[[], datetime] | None = None,
) -> Answer:
    """Handle a fire delivered now: the job it created, or the recorded reason it created none."""
    answer, _ = await first_look(pool, observers, message_id, schedule_id, jti)
    if answer is not None:
        return answer
    at = now()
    metadata = Metadata(actor="qstash", message_id=message_id, retried=retried or None)
    command = FireSchedule(at=at, schedule_id=schedule_id, delivered_at=None if clock is None else clock())
    try:
        handled = await handle(
            pool,
            schedule_id,
            command,
            metadata,
            kinds,
            inbox=_fired_entry(message_id, schedule_id),
            observers=observers,
        )
    except ScheduleNotFound:  # deleted and gone, or a QStash schedule left over: reconciliation removes it
        detail = {"schedule_id": str(schedule_id), "reason": "no_schedule"}
        return await settle(pool, schedule_id, message_id, Answer(status=200, outcome="no_op", detail=detail))
    except DuplicateMessage:  # a twin with this message id recorded its answer first
        async with pool.connection() as conn:
            look = await load_with_answer(conn, message_id, schedule_id, None)
        assert look.recorded is not None
        return duplicate(*look.recorded)
    if not handled.events:
        reason = _why_nothing(handled.state, at)
        detail = {"schedule_id": str(schedule_id), "reason": reason}
        return await settle(pool, schedule_id, message_id, Answer(status=200, outcome="no_op", detail=detail))
    return Answer(status=200, outcome=FIRED, detail=_fired_detail(schedule_id, handled.events))
