"""A schedule's state: the fold of its events, and the snapshot its read model keeps."""

from datetime import datetime
from uuid import UUID

import msgspec

from domain.schedule.cron import Fire, next_fires
from domain.schedule.lifecycle import ScheduleStatus
from domain.schedule.spec import ScheduleSpec


class ScheduleState(ScheduleSpec, frozen=True, kw_only=True):
    """The spec it inherits is the schedule's as last updated (flat: see spec.py)."""

    owner: str = ""  # no schedule: the initial state has every field defaulted
    kind: str = ""
    cron: str = ""
    version: int = 0
    status: ScheduleStatus | None = None  # None until ScheduleCreated
    # Ticks at or before this moment never fire: the last tick recorded, or when the schedule
    # was created, resumed or given a new cron or zone (ticks passed while paused are not owed).
    ticks_after: datetime | None = None
    last_tick: datetime | None = None  # the latest tick recorded, with a job or without
    last_job_id: UUID | None = None  # the job the last fire (by cron or by hand) created
    jobs_created: int = 0
    ticks_skipped: int = 0  # recorded without a job, and missed in between
    created_at: datetime | None = None
    updated_at: datetime | None = None


INITIAL = ScheduleState()

encoder = msgspec.json.Encoder()
decoder = msgspec.json.Decoder(ScheduleState)


def has_ended(state: ScheduleState, at: datetime) -> bool:
    """Past its end date: no tick after that fires."""
    return state.end_at is not None and at > state.end_at


def upcoming(state: ScheduleState, after: datetime, n: int = 5) -> list[Fire]:
    """The next `n` ticks that will fire after `after` (none while paused or deleted, none past the end)."""
    if state.status is not ScheduleStatus.ACTIVE:
        return []
    start = max(after, state.ticks_after) if state.ticks_after else after
    return [fire for fire in next_fires(state.cron, state.time_zone, start, n) if not has_ended(state, fire.utc)]
