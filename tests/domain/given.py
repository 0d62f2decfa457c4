"""Given a job's events, when a command, then events: the job's decider as a table of facts."""

from typing import Any

from domain.commands import AnyCommand
from domain.events import AnyEvent, JobCreated
from domain.job import decide, fold
from domain.state import JobState
from tests.domain.facts import T0, Given, at

__all__ = ["T0", "at", "created", "given"]


def created(**changes: Any) -> JobCreated:
    """A JobCreated at T0 with small limits, no target and no deadline unless changed."""
    fields: dict[str, Any] = {"at": T0, "owner": "ada", "kind": "crawl", "max_runs": 3}
    return JobCreated(**fields | changes)


def given(*history: AnyEvent) -> Given[AnyCommand, AnyEvent, JobState]:
    return Given(decide, fold, list(history))
