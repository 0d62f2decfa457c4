"""Schedule request and response bodies. Requests are strict: unknown fields are refused.

A PATCH body names only what it changes: an absent field stays UNSET (unchanged), an
explicit null clears a field that may be null (the end date, or a limit back to the kind's).
"""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import UNSET, UnsetType

from domain.schedule.cron import Fire, describe
from domain.schedule.policies import CatchUp, NoJob, Overlap
from domain.schedule.spec import ScheduleChanges
from domain.schedule.state import ScheduleState
from service.api.schemas import BIGINT_MAX, JobDocument

Cron = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["*/5 * * * *"])]
TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["Europe/Berlin"])]
EndAt = Annotated[datetime, msgspec.Meta(tz=True)]  # a naive end date would mean whose clock?
TargetResults = Annotated[int, msgspec.Meta(ge=1, le=BIGINT_MAX)]
MaxRuns = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
DeadlineS = Annotated[float, msgspec.Meta(gt=0, le=30 * 86400)]


class CreateScheduleRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["demo.count"])]
    params: dict[str, Any] = {}
    target_results: TargetResults | None = None
    max_runs: MaxRuns | None = None
    deadline_s: DeadlineS | None = None
    cron: Cron
    time_zone: TimeZone = "UTC"
    overlap: Overlap = Overlap.SKIP
    catch_up: CatchUp = CatchUp.LATEST_ONCE
    end_at: EndAt | None = None
    paused: bool = False


class UpdateScheduleRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    params: dict[str, Any] | UnsetType = UNSET
    target_results: TargetResults | None | UnsetType = UNSET
    max_runs: MaxRuns | None | UnsetType = UNSET
    deadline_s: DeadlineS | None | UnsetType = UNSET
    cron: Cron | UnsetType = UNSET
    time_zone: TimeZone | UnsetType = UNSET
    overlap: Overlap | UnsetType = UNSET
    catch_up: CatchUp | UnsetType = UNSET
    end_at: EndAt | None | UnsetType = UNSET

    def changes(self) -> ScheduleChanges:
        return ScheduleChanges(**{name: getattr(self, name) for name in self.__struct_fields__})


class FireTime(msgspec.Struct, frozen=True, kw_only=True):
    local: datetime  # on the schedule's clock, with its offset
    utc: datetime


class ScheduleDocument(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    owner: str
    kind: str
    params: dict[str, Any]
    target_results: int | None
    max_runs: int | None
    deadline_s: float | None
    cron: str
    time_zone: str
    description: str  # the cron in words, read on the schedule's clock
    overlap: Overlap
    catch_up: CatchUp
    end_at: datetime | None
    status: str
    next_fires: list[FireTime]  # five on a schedule's own document, the next one in a list
    last_tick: datetime | None
    last_job_id: UUID | None
    jobs_created: int
    ticks_skipped: int
    created_at: datetime | None
    updated_at: datetime | None
    version: int


class SchedulePage(msgspec.Struct, frozen=True, kw_only=True):
    schedules: list[ScheduleDocument]
    next_cursor: str | None


class Triggered(msgspec.Struct, frozen=True, kw_only=True):
    """What a fire by hand did: the job it created, or why it created none."""

    schedule: ScheduleDocument
    job: JobDocument | None
    reason: NoJob | None = None


class ScheduleJobs(msgspec.Struct, frozen=True, kw_only=True):
    schedule_id: UUID
    jobs: list[JobDocument]
    next_cursor: str | None


def schedule_document(schedule_id: UUID, state: ScheduleState, fires: list[Fire]) -> ScheduleDocument:
    return ScheduleDocument(
        id=schedule_id,
        owner=state.owner,
        kind=state.kind,
        params=state.params,
        target_results=state.target_results,
        max_runs=state.max_runs,
        deadline_s=state.deadline_s,
        cron=state.cron,
        time_zone=state.time_zone,
        description=f"{describe(state.cron)} ({state.time_zone})",
        overlap=state.overlap,
        catch_up=state.catch_up,
        end_at=state.end_at,
        status=str(state.status),
        next_fires=[FireTime(local=fire.local, utc=fire.utc) for fire in fires],
        last_tick=state.last_tick,
        last_job_id=state.last_job_id,
        jobs_created=state.jobs_created,
        ticks_skipped=state.ticks_skipped,
        created_at=state.created_at,
        updated_at=state.updated_at,
        version=state.version,
    )
