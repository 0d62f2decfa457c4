"""Events: the permanent facts of a schedule's life, stored in the log beside the jobs'.

Tags are the class names and never change; new fields get defaults; unknown fields are
ignored (see domain.events). Every time is in UTC.
"""

from datetime import datetime
from typing import get_args
from uuid import UUID

import msgspec

from domain.schedule.policies import NoJob
from domain.schedule.spec import ScheduleChanges, ScheduleSpec


class ScheduleEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    at: datetime


class ScheduleCreated(ScheduleSpec, frozen=True, kw_only=True, tag_field="type", tag="ScheduleCreated"):
    """The schedule as created. Not a ScheduleEvent: its spec is the one field-carrying base."""

    at: datetime
    paused: bool = False


class ScheduleUpdated(ScheduleChanges, frozen=True, kw_only=True, tag_field="type", tag="ScheduleUpdated"):
    """Only the fields that changed are set; the others are absent from its JSON."""

    at: datetime


class SchedulePaused(ScheduleEvent, tag="SchedulePaused", frozen=True, kw_only=True):
    pass


class ScheduleResumed(ScheduleEvent, tag="ScheduleResumed", frozen=True, kw_only=True):
    pass


class ScheduleDeleted(ScheduleEvent, tag="ScheduleDeleted", frozen=True, kw_only=True):
    pass


class ScheduleFired(ScheduleEvent, tag="ScheduleFired", frozen=True, kw_only=True):
    """A tick handled, once: the job it created, or why it created none. `at` is when its
    fire was delivered, `tick` the cron time it was for."""

    tick: datetime
    job_id: UUID | None = None
    reason: NoJob | None = None
    missed: int = 0  # earlier ticks since the last one accounted for, which get no job
    cancelled_job_id: UUID | None = None  # the previous job, under Overlap.CANCEL_PREVIOUS


class ScheduleTriggered(ScheduleEvent, tag="ScheduleTriggered", frozen=True, kw_only=True):
    """Fired by hand, outside the cron: no tick, and the ticks accounted for stay as they were."""

    job_id: UUID | None = None
    reason: NoJob | None = None
    cancelled_job_id: UUID | None = None


AnyScheduleEvent = (
    ScheduleCreated
    | ScheduleUpdated
    | SchedulePaused
    | ScheduleResumed
    | ScheduleDeleted
    | ScheduleFired
    | ScheduleTriggered
)

SCHEDULE_EVENT_TYPES: tuple[type[AnyScheduleEvent], ...] = get_args(AnyScheduleEvent)

encoder = msgspec.json.Encoder()
decoder = msgspec.json.Decoder(AnyScheduleEvent)
list_decoder = msgspec.json.Decoder(list[AnyScheduleEvent])
