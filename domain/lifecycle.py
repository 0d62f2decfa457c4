"""The one `transitions` Machine that declares every legal move of a job.

It is built once, with no model, and read into a plain dict: `decide` asks the dict
(a lookup costs ~0.1 µs; asking the Machine costs ~10 µs and building one per job
far more). Replay never consults either: history is trusted.
"""

from enum import StrEnum

from domain import machine_table


class Status(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    ERROR = "error"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


class Trigger(StrEnum):
    START = "start"
    RECORD_BATCH = "record_batch"
    CONTINUE = "continue"
    FAIL_DELIVERY = "fail_delivery"
    COMPLETE = "complete"
    FAIL = "fail"
    TIME_OUT = "time_out"
    CANCEL = "cancel"
    REQUEUE = "requeue"
    REDISPATCH = "redispatch"


FINAL: frozenset[Status] = frozenset({Status.COMPLETED, Status.CANCELLED})
ACTIVE: frozenset[Status] = frozenset({Status.PENDING, Status.PROCESSING})

# (trigger, sources, dest)
_MOVES: list[tuple[Trigger, list[Status], Status]] = [
    (Trigger.START, [Status.PENDING], Status.PROCESSING),
    (Trigger.RECORD_BATCH, [Status.PROCESSING], Status.PROCESSING),
    (Trigger.CONTINUE, [Status.PROCESSING], Status.PROCESSING),
    (Trigger.FAIL_DELIVERY, [Status.PROCESSING], Status.PROCESSING),
    (Trigger.COMPLETE, [Status.PROCESSING], Status.COMPLETED),
    (Trigger.FAIL, [Status.PENDING, Status.PROCESSING], Status.ERROR),
    (Trigger.TIME_OUT, [Status.PENDING, Status.PROCESSING], Status.TIMEOUT),
    (Trigger.CANCEL, [Status.PENDING, Status.PROCESSING], Status.CANCELLED),
    (Trigger.REQUEUE, [Status.ERROR, Status.TIMEOUT], Status.PENDING),
    (Trigger.REDISPATCH, [Status.PENDING], Status.PENDING),
    (Trigger.REDISPATCH, [Status.PROCESSING], Status.PROCESSING),
]

MACHINE = machine_table.build(Status, Status.PENDING, _MOVES)
TRANSITIONS: dict[tuple[Status, Trigger], Status] = machine_table.read(MACHINE, Status, Trigger)


def next_status(status: Status, trigger: Trigger) -> Status | None:
    """Where `trigger` takes a job in `status`, or None when the Machine forbids it."""
    return TRANSITIONS.get((status, trigger))


def mermaid() -> str:
    """The state diagram, drawn from the Machine, for the README."""
    return machine_table.mermaid(TRANSITIONS, [Status.PENDING], FINAL)
