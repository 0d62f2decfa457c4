"""Given a schedule's events, when a command, then events: its decider as a table of facts."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.errors import DomainError
from domain.schedule.commands import AnyScheduleCommand, FireSchedule
from domain.schedule.decider import decide, fold
from domain.schedule.events import AnyScheduleEvent, ScheduleCreated
from domain.schedule.state import ScheduleState

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
SCHEDULE_ID = UUID("5c4ed01e-0000-4000-8000-000000000001")
EVERY_TEN_MINUTES = "*/10 * * * *"


def at(minutes: float) -> datetime:
    """A moment `minutes` after T0, the schedule's creation time."""
    return T0 + timedelta(minutes=minutes)


def created(**changes: Any) -> ScheduleCreated:
    """A ScheduleCreated at T0 that fires every ten minutes, in UTC, unless changed."""
    fields: dict[str, Any] = {"at": T0, "owner": "ada", "kind": "crawl", "cron": EVERY_TEN_MINUTES}
    return ScheduleCreated(**fields | changes)


def fire(minutes: float, **changes: Any) -> FireSchedule:
    """A fire of SCHEDULE_ID delivered `minutes` after T0."""
    fields: dict[str, Any] = {"at": at(minutes), "schedule_id": SCHEDULE_ID}
    return FireSchedule(**fields | changes)


class Given:
    def __init__(self, history: list[AnyScheduleEvent]) -> None:
        self.history = history

    @property
    def state(self) -> ScheduleState:
        return fold(self.history)

    def when(self, command: AnyScheduleCommand) -> "When":
        return When(self.state, command)


class When:
    def __init__(self, state: ScheduleState, command: AnyScheduleCommand) -> None:
        self.state, self.command = state, command

    def then(self, *expected: AnyScheduleEvent) -> list[AnyScheduleEvent]:
        """Assert the command yields exactly `expected` (nothing, when none is given)."""
        events = decide(self.command, self.state)
        assert events == list(expected)
        return events

    def raises(self, error: type[DomainError], match: str | None = None) -> pytest.ExceptionInfo:
        with pytest.raises(error, match=match) as caught:
            decide(self.command, self.state)
        return caught


def given(*history: AnyScheduleEvent) -> Given:
    return Given(list(history))
