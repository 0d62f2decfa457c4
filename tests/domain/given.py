"""Given events, when a command, then events: the decider tested as a table of facts."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.commands import AnyCommand
from domain.errors import DomainError
from domain.events import AnyEvent, JobCreated
from domain.job import decide, fold
from domain.state import JobState

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """A moment `minutes` after T0, the job's creation time."""
    return T0 + timedelta(minutes=minutes)


def created(**changes: Any) -> JobCreated:
    """A JobCreated at T0 with small limits, no target and no deadline unless changed."""
    fields: dict[str, Any] = {"at": T0, "owner": "ada", "kind": "crawl", "max_runs": 3}
    return JobCreated(**fields | changes)


class Given:
    def __init__(self, history: list[AnyEvent]) -> None:
        self.history = history

    @property
    def state(self) -> JobState:
        return fold(self.history)

    def when(self, command: AnyCommand) -> "When":
        return When(self.state, command)


class When:
    def __init__(self, state: JobState, command: AnyCommand) -> None:
        self.state, self.command = state, command

    def then(self, *expected: AnyEvent) -> list[AnyEvent]:
        """Assert the command yields exactly `expected` (nothing, when none is given)."""
        events = decide(self.command, self.state)
        assert events == list(expected)
        return events

    def raises(self, error: type[DomainError], match: str | None = None) -> pytest.ExceptionInfo:
        with pytest.raises(error, match=match) as caught:
            decide(self.command, self.state)
        return caught


def given(*history: AnyEvent) -> Given:
    return Given(list(history))
