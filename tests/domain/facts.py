"""Given events, when a command, then events: a decider tested as a table of facts.

Shared by the job's and the schedule's deciders; each `given.py` binds its decide and fold.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

import pytest

from domain.errors import DomainError

Command = TypeVar("Command")
Event = TypeVar("Event")
State = TypeVar("State")

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """A moment `minutes` after T0, the stream's creation time."""
    return T0 + timedelta(minutes=minutes)


class Given(Generic[Command, Event, State]):
    def __init__(
        self,
        decide: Callable[[Command, State], list[Event]],
        fold: Callable[[list[Event]], State],
        history: list[Event],
    ) -> None:
        self.decide, self.fold, self.history = decide, fold, history

    @property
    def state(self) -> State:
        return self.fold(self.history)

    def when(self, command: Command) -> "When[Command, Event, State]":
        return When(self.decide, self.state, command)


class When(Generic[Command, Event, State]):
    def __init__(self, decide: Callable[[Command, State], list[Event]], state: State, command: Command) -> None:
        self.decide, self.state, self.command = decide, state, command

    def then(self, *expected: Event) -> list[Event]:
        """Assert the command yields exactly `expected` (nothing, when none is given)."""
        events = self.decide(self.command, self.state)
        assert events == list(expected)
        return events

    def raises(self, error: type[DomainError], match: str | None = None) -> pytest.ExceptionInfo:
        with pytest.raises(error, match=match) as caught:
            self.decide(self.command, self.state)
        return caught
