"""A lifecycle's `transitions` Machine, built from its moves and read back as a plain dict.

Both lifecycles (a job's, a schedule's) declare their moves as (trigger, sources, dest)
with StrEnum members; transitions reads Enum states by name, so it is handed values.
"""

from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar

from transitions import Machine

S = TypeVar("S", bound=StrEnum)
T = TypeVar("T", bound=StrEnum)


def build(states: type[S], initial: S, moves: Iterable[tuple[T, list[S], S]]) -> Machine:
    """The Machine of `moves`, with no model and no auto transitions."""
    return Machine(
        model=None,
        states=[status.value for status in states],
        initial=initial.value,
        auto_transitions=False,
        transitions=[
            {"trigger": trigger.value, "source": [s.value for s in sources], "dest": dest.value}
            for trigger, sources, dest in moves
        ],
    )


def read(machine: Machine, states: type[S], triggers: type[T]) -> dict[tuple[S, T], S]:
    """(status, trigger) -> next status, for every move the Machine allows."""
    table = {}
    for trigger, event in machine.events.items():
        for source, transitions in event.transitions.items():
            for transition in transitions:
                assert transition.dest is not None, "every move names its destination"
                table[states(source), triggers(trigger)] = states(transition.dest)
    return table


def mermaid(table: dict[tuple[S, T], S], entry: Iterable[S], final: Iterable[S]) -> str:
    """The state diagram of `table`, entered at `entry` and left at `final`."""
    lines = ["stateDiagram-v2"] + [f"    [*] --> {status}" for status in sorted(entry)]
    for (source, trigger), dest in sorted(table.items()):
        lines.append(f"    {source} --> {dest}: {trigger}")
    lines += [f"    {status} --> [*]" for status in sorted(final)]
    return "\n".join(lines)
