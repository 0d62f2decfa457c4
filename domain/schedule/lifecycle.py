"""The one `transitions` Machine that declares every legal move of a schedule.

Built once, with no model, and read into a plain dict, as the job's is (domain.lifecycle).
A schedule enters it at creation, active or, when created paused, paused; deleted is final.
"""

from enum import StrEnum

from domain import machine_table


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

# (trigger, sources, dest)
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

MACHINE = machine_table.build(ScheduleStatus, ScheduleStatus.ACTIVE, _MOVES)
TRANSITIONS: dict[tuple[ScheduleStatus, ScheduleTrigger], ScheduleStatus] = machine_table.read(
    MACHINE, ScheduleStatus, ScheduleTrigger
)


def next_status(status: ScheduleStatus, trigger: ScheduleTrigger) -> ScheduleStatus | None:
    """Where `trigger` takes a schedule in `status`, or None when the Machine forbids it."""
    return TRANSITIONS.get((status, trigger))


def mermaid() -> str:
    """The state diagram, drawn from the Machine, for docs/architecture.md."""
    return machine_table.mermaid(TRANSITIONS, ENTRY, FINAL)
