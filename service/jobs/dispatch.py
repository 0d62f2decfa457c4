"""Which messages a decision calls for: the outbox rows written with its events."""

from uuid import UUID

from domain.events import AnyEvent, ContinuationScheduled, JobCreated, JobRequeued, RunRedispatched
from domain.state import JobState
from service.store.event_store import OutboxMessage


def messages_for(stream_id: UUID, events: list[AnyEvent], state: JobState) -> list[OutboxMessage]:
    """A run to deliver for each event that starts or continues the job.

    The deduplication id names the job, its requeue generation and the run, so a
    re-published row is dropped by QStash while a requeued job's runs still go out.
    """
    messages = []
    for event in events:
        match event:
            case JobCreated() | JobRequeued():
                messages.append(_run(stream_id, state, state.next_run, 0.0))
            case ContinuationScheduled(run=run, delay_s=delay_s):
                messages.append(_run(stream_id, state, run, delay_s))
            case RunRedispatched(run=run, redispatch=redispatch):
                messages.append(_run(stream_id, state, run, 0.0, suffix=f"-r{redispatch}"))
    return messages


def _run(stream_id: UUID, state: JobState, run: int, delay_s: float, suffix: str = "") -> OutboxMessage:
    return OutboxMessage(
        run=run,
        deduplication_id=f"{stream_id}-{state.requeues}-{run}{suffix}",
        body={"job_id": str(stream_id), "run": run},
        delay_s=delay_s,
    )
