"""The job a schedule's tick creates: its id and its create command.

The id is derived (uuid5) from the schedule's id and the tick, so a tick can name one job
only: however a fire is repeated, the job's own stream refuses a second JobCreated.
"""

from datetime import UTC, datetime
from uuid import UUID, uuid5

from domain.commands import CreateJob
from domain.kinds import KindConfig, create_job
from domain.schedule.spec import ScheduleSpec


def job_id_for(schedule_id: UUID, tick: datetime) -> UUID:
    return uuid5(schedule_id, tick.astimezone(UTC).isoformat())


def job_command(schedule: ScheduleSpec, config: KindConfig, at: datetime) -> CreateJob:
    """The schedule's job under its kind's limits, created at `at`; InvalidCommand when the
    schedule asks for more than the kind allows (check it once at creation, too)."""
    return create_job(
        schedule.kind,
        config,
        owner=schedule.owner,
        at=at,
        params=schedule.params,
        target_results=schedule.target_results,
        max_runs=schedule.max_runs,
        deadline_s=schedule.deadline_s,
    )
