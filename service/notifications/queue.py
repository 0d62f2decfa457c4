"""Which notification a decision calls for: the one queued with a job's final event.

A job that completes, is cancelled, fails or times out notifies its owner's endpoints and
its own notify_url; `error` and `timeout` are announced too, though an operator may still
requeue the job (a later final event is a new notification, under its own id).
"""

from uuid import UUID

import msgspec

from domain.events import AnyEvent, JobCancelled, JobCompleted, JobFailed, JobTimedOut
from domain.state import JobState
from service.api.schemas import document
from service.store.event_store import Notification

FINAL_EVENTS = (JobCompleted, JobCancelled, JobFailed, JobTimedOut)


def webhook_id(stream_id: UUID, version: int) -> str:
    """Stable per (job, final event): every publish and retry of it carries the same id."""
    return f"msg_{stream_id.hex}_{version}"


def notification_for(stream_id: UUID, events: list[AnyEvent], state: JobState) -> Notification | None:
    """The job's status document after `events`, when one of them finishes it."""
    for offset, event in enumerate(reversed(events)):
        if isinstance(event, FINAL_EVENTS):
            version = state.version - offset
            return Notification(
                webhook_id=webhook_id(stream_id, version), body=msgspec.to_builtins(document(stream_id, state))
            )
    return None
