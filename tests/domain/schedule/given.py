"""Given a schedule's events, when a command, then events: its decider as a table of facts."""

from typing import Any
from uuid import UUID

from domain.schedule.commands import AnyScheduleCommand, FireSchedule
from domain.schedule.decider import decide, fold
from domain.schedule.events import AnyScheduleEvent, ScheduleCreated
from domain.schedule.state import ScheduleState
from tests.domain.facts import T0, Given, at

__all__ = ["EVERY_TEN_MINUTES", "SCHEDULE_ID", "T0", "at", "created", "fire", "given"]

SCHEDULE_ID = UUID("5c4ed01e-0000-4000-8000-000000000001")
EVERY_TEN_MINUTES = "*/10 * * * *"


def created(**changes: Any) -> ScheduleCreated:
    """A ScheduleCreated at T0 that fires every ten minutes, in UTC, unless changed."""
    fields: dict[str, Any] = {"at": T0, "owner": "ada", "kind": "crawl", "cron": EVERY_TEN_MINUTES}
    return ScheduleCreated(**fields | changes)


def fire(minutes: float, **changes: Any) -> FireSchedule:
    """A fire of SCHEDULE_ID delivered `minutes` after T0."""
    fields: dict[str, Any] = {"at": at(minutes), "schedule_id": SCHEDULE_ID}
    return FireSchedule(**fields | changes)


def given(*history: AnyScheduleEvent) -> Given[AnyScheduleCommand, AnyScheduleEvent, ScheduleState]:
    return Given(decide, fold, list(history))
