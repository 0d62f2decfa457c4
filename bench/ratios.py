"""How a bench reports a ratio: the figure, the goal beside it, and whether it is met."""


def ratio_line(label: str, value: float, goal: float | None = None) -> str:
    """`label  1.23x` with the goal and whether it is met, when there is one."""
    text = f"  {label:<28} {value:8.2f}x"
    if goal is not None:
        text += f"   goal >= {goal:g}  {'MET' if value >= goal else 'NOT MET'}"
    return text
