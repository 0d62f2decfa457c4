"""What an operator may do to a job from its page, and doing it.

The actions are the API's (`POST /v1/jobs/{id}/cancel` and `/retry`, the latter a
requeue of a job that failed or timed out), under the API's rules: only the job's
owner's key with `jobs:write` may use them (an auditor reads, it does not operate), and
the lifecycle decides whether the job can make the move now. The events are recorded
with the operator's key as actor, exactly as an API call with that key would be.
"""

from collections.abc import Mapping
from enum import StrEnum
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from domain.commands import Cancel, Requeue
from domain.lifecycle import Status, Trigger, next_status
from domain.state import JobState
from projections.log import Metadata
from service.auth.keys import Principal, Scope
from service.clock import now
from service.jobs.command_handler import handle
from service.jobs.kinds import Kind, requeue_deadline
from service.jobs.observers import Observers

CANCEL_REASON = "cancelled by an operator on the dashboard"


class Action(StrEnum):
    CANCEL = "cancel"
    RETRY = "retry"


TRIGGERS = {Action.CANCEL: Trigger.CANCEL, Action.RETRY: Trigger.REQUEUE}
# What the confirmation says will happen.
CONSEQUENCES = {
    Action.CANCEL: "The job stops: a delivery still in flight changes nothing. Cancelled is final.",
    Action.RETRY: "The job is requeued: it goes back to pending and runs again from where it stopped.",
}


class ReadOnlyJobKey(Exception):
    """An action asked by a key that may not change jobs (no `jobs:write`)."""


def may_operate(principal: Principal, state: JobState) -> bool:
    return Scope.JOBS_WRITE in principal.scopes and state.owner == principal.owner


def offered(principal: Principal, state: JobState) -> list[Action]:
    """The actions the page shows: those this key may take and the lifecycle allows now."""
    if state.status is None or not may_operate(principal, state):
        return []
    return [action for action in Action if next_status(Status(state.status), TRIGGERS[action]) is not None]


async def perform(
    pool: AsyncConnectionPool,
    kinds: Mapping[str, Kind],
    observers: Observers,
    job_id: UUID,
    state: JobState,
    action: Action,
    metadata: Metadata,
) -> JobState:
    """Decide against the state just read (a concurrent change costs a retry in `handle`);
    a move the lifecycle refuses raises IllegalTransition."""
    at = now()
    match action:
        case Action.CANCEL:
            command: Cancel | Requeue = Cancel(at=at, reason=CANCEL_REASON)
        case Action.RETRY:
            command = Requeue(at=at, deadline=requeue_deadline(kinds, state.kind, at))
    handled = await handle(pool, job_id, command, metadata, known=state, observers=observers)
    return handled.state
