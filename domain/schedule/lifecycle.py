"""The one `transitions` Machine that declares every legal move of a schedule.

Built once, with no model, and read into a plain dict, as the job's is (domain.lifecycle).
A schedule enters it at creation, active or, when created paused, paused; deleted is final.
"""

from enum import StrEnum

from transitions import Machine


class ScheduleStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    DELETED = "deleted"


class ScheduleTrigger(StrEnum):
    UPDATE = "update"
    PAUSE = "pause"
    RESUME = "resume"
    DELETE = "delete"
    FIRE = "fire"  # a cron tick
    TRIGGER = "trigger"  # by hand, outside the cron


FINAL: frozenset[ScheduleStatus] = frozenset({ScheduleStatus.DELETED})
ENTRY: frozenset[ScheduleStatus] = frozenset({ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED})

_ACTIVE, _PAUSED, _DELETED = ScheduleStatus

# (trigger, sources, dest), handed to transitions as values (it reads Enum states by name).
_MOVES: list[tuple[ScheduleTrigger, list[ScheduleStatus], ScheduleStatus]] = [
    (ScheduleTrigger.UPDATE, [_ACTIVE], _ACTIVE),
    (ScheduleTrigger.UPDATE, [_PAUSED], _PAUSED),
    (ScheduleTrigger.PAUSE, [_ACTIVE], _PAUSED),
    (ScheduleTrigger.RESUME, [_PAUSED], _ACTIVE),
    (ScheduleTrigger.DELETE, [_ACTIVE, _PAUSED], _DELETED),
    (ScheduleTrigger.FIRE, [_ACTIVE], _ACTIVE),
    (ScheduleTrigger.TRIGGER, [_ACTIVE], _ACTIVE),
    (ScheduleTrigger.TRIGGER, [_PAUSED], _PAUSED),
]

MACHINE = Machine(
    model=None,
    states=[status.value for status in ScheduleStatus],
    initial=ScheduleStatus.ACTIVE.value,
    auto_transitions=False,
    transitions=[
        {"trigger": trigger.value, "source": [s.value for s in sources], "dest": dest.value}
        for trigger, sources, dest in _MOVES
    ],
)


def _table(machine: Machine) -> dict[tuple[ScheduleStatus, ScheduleTrigger], ScheduleStatus]:
    table = {}
    for trigger, event in machine.events.items():
        for source, transitions in event.transitions.items():
            for transition in transitions:
                assert transition.dest is not None, "every move names its destination"
                table[ScheduleStatus(source), ScheduleTrigger(trigger)] = ScheduleStatus(transition.dest)
    return table


TRANSITIONS: dict[tuple[ScheduleStatus, ScheduleTrigger], ScheduleStatus] = _table(MACHINE)


def next_status(status: ScheduleStatus, trigger: ScheduleTrigger) -> ScheduleStatus | None:
    """Where `trigger` takes a schedule in `status`, or None when the Machine forbids it."""
    return TRANSITIONS.get((status, trigger))


def mermaid() -> str:
    """The state diagram, drawn from the Machine, for docs/architecture.md."""
    lines = ["stateDiagram-v2"] + [f"    [*] --> {status}" for status in sorted(ENTRY)]
    for (source, trigger), dest in sorted(TRANSITIONS.items()):
        lines.append(f"    {source} --> {dest}: {trigger}")
    lines += [f"    {status} --> [*]" for status in sorted(FINAL)]
    return "\n".join(lines)
