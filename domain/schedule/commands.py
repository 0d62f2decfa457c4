"""Commands: what a caller asks of a schedule. Time comes in on the command, never from a
clock, and so do the facts of other streams (is the previous job still active?)."""

from datetime import datetime
from uuid import UUID

import msgspec

from domain.schedule.spec import ScheduleChanges, ScheduleSpec

# How late a fire may be delivered and still count as on time (CatchUp.SKIP drops later
# ones): a QStash retry after a short outage of the service comes within minutes.
TOLERANCE_S = 300.0


class ScheduleCommand(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime


class CreateSchedule(ScheduleSpec, frozen=True, kw_only=True):
    """Not a ScheduleCommand: the spec is its one field-carrying base (see spec.py)."""

    at: datetime
    paused: bool = False


class UpdateSchedule(ScheduleChanges, frozen=True, kw_only=True):
    at: datetime


class PauseSchedule(ScheduleCommand, frozen=True, kw_only=True):
    pass


class ResumeSchedule(ScheduleCommand, frozen=True, kw_only=True):
    pass


class DeleteSchedule(ScheduleCommand, frozen=True, kw_only=True):
    pass


class FireSchedule(ScheduleCommand, frozen=True, kw_only=True):
    """A fire delivered at `at`. Its job's id is derived from the schedule's and the tick's
    (jobs.job_id_for), so `schedule_id` comes along; `previous_job_active` tells whether the
    schedule's last job (ScheduleState.last_job_id) is still pending or processing.
    `delivered_at`, when given, is the moment the tick is derived from instead of `at`: the
    sender's schedule clock, where it runs apart from ours (a time-scaled test broker)."""

    schedule_id: UUID
    delivered_at: datetime | None = None
    previous_job_active: bool = False
    tolerance_s: float = TOLERANCE_S
    early_s: float = 0.0  # how far ahead of ours the sender's clock may run


class TriggerSchedule(ScheduleCommand, frozen=True, kw_only=True):
    """Fire now, by hand, creating the job `job_id` (the overlap policy still applies)."""

    job_id: UUID
    previous_job_active: bool = False


AnyScheduleCommand = (
    CreateSchedule | UpdateSchedule | PauseSchedule | ResumeSchedule | DeleteSchedule | FireSchedule | TriggerSchedule
)
