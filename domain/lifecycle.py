"""The one `transitions` Machine that declares every legal move of a job.

It is built once, with no model, and read into a plain dict: `decide` asks the dict
(a lookup costs ~0.1 µs; asking the Machine costs ~10 µs and building one per job
far more). Replay never consults either: history is trusted.
"""

from enum import StrEnum

from transitions import Machine


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

# (trigger, sources, dest). transitions reads Enum states by name, so it is handed values.
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

MACHINE = Machine(
    model=None,
    states=[status.value for status in Status],
    initial=Status.PENDING.value,
    auto_transitions=False,
    transitions=[
        {"trigger": trigger.value, "source": [s.value for s in sources], "dest": dest.value}
        for trigger, sources, dest in _MOVES
    ],
)


def _table(machine: Machine) -> dict[tuple[Status, Trigger], Status]:
    table = {}
    for trigger, event in machine.events.items():
        for source, transitions in event.transitions.items():
            for transition in transitions:
                assert transition.dest is not None, "every move names its destination"
                table[Status(source), Trigger(trigger)] = Status(transition.dest)
    return table


TRANSITIONS: dict[tuple[Status, Trigger], Status] = _table(MACHINE)


def next_status(status: Status, trigger: Trigger) -> Status | None:
    """Where `trigger` takes a job in `status`, or None when the Machine forbids it."""
    return TRANSITIONS.get((status, trigger))


def mermaid() -> str:
    """The state diagram, drawn from the Machine, for the README."""
    lines = ["stateDiagram-v2", f"    [*] --> {Status.PENDING}"]
    for (source, trigger), dest in sorted(TRANSITIONS.items()):
        lines.append(f"    {source} --> {dest}: {trigger}")
    lines += [f"    {status} --> [*]" for status in sorted(FINAL)]
    return "\n".join(lines)
