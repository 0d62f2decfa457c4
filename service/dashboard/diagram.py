"""The lifecycle as an inline SVG, laid out from the one Machine's transition table.

Drawn here rather than by a mermaid script so that the page works offline and the
picture can never disagree with the rules `decide` applies: states are placed in
columns by their longest forward path from `pending`, edges that lead back (a
requeue) curve underneath, and moves that stay put become loops above their state.

A move is named once where it arrives, not along each curve: `cancel` from pending and
from processing is one label beside `cancelled`. Curves that fan out of one state would
otherwise put their names on top of each other.
"""

from collections import defaultdict
from functools import cache
from html import escape

from markupsafe import Markup

from domain.lifecycle import FINAL, TRANSITIONS, Status

NODE_W, NODE_H = 124, 36
COLUMN_GAP, ROW_GAP = 230, 62
MARGIN_X, LOOP_ROOM, BACK_ROOM = 30, 78, 70

Edge = tuple[Status, Status]


def _edges() -> dict[Edge, list[str]]:
    """Triggers grouped by the move they make, in the table's order."""
    grouped: dict[Edge, list[str]] = defaultdict(list)
    for (source, trigger), dest in sorted(TRANSITIONS.items()):
        grouped[source, dest].append(str(trigger))
    return dict(grouped)


def _back_edges(edges: dict[Edge, list[str]]) -> set[Edge]:
    """Edges that return to a state still being explored from `pending` (a requeue): the
    depth-first back edges, whose removal leaves the moves forward-only."""
    open_, done, back = set(), set(), set()

    def visit(here: Status) -> None:
        open_.add(here)
        for source, dest in edges:
            if source != here or source == dest:
                continue
            if dest in open_:
                back.add((source, dest))
            elif dest not in done:
                visit(dest)
        open_.discard(here)
        done.add(here)

    visit(Status.PENDING)
    return back


def _ranks(edges: dict[Edge, list[str]]) -> dict[Status, int]:
    back = _back_edges(edges)
    forward = [e for e in edges if e[0] != e[1] and e not in back]
    rank = {status: 0 for status in Status}
    for _ in Status:  # longest path on a DAG of six states: relax until stable
        for source, dest in forward:
            rank[dest] = max(rank[dest], rank[source] + 1)
    return rank


def _positions(edges: dict[Edge, list[str]]) -> dict[Status, tuple[float, float]]:
    """Node centres, each column hanging from the top row, so that the main path runs
    straight along it and every other move fans downwards; states that lead back sit
    lowest, next to the curves they start."""
    ranks = _ranks(edges)
    leads_back = {source for source, _ in _back_edges(edges)}
    order = list(Status)
    columns: dict[int, list[Status]] = defaultdict(list)
    for status in sorted(Status, key=lambda s: (s in leads_back, order.index(s))):
        columns[ranks[status]].append(status)
    return {
        status: (MARGIN_X + NODE_W / 2 + rank * COLUMN_GAP, LOOP_ROOM + NODE_H / 2 + row * ROW_GAP)
        for rank, column in columns.items()
        for row, status in enumerate(column)
    }


def _label(x: float, y: float, triggers: list[str]) -> str:
    lines = [", ".join(triggers[i : i + 2]) for i in range(0, len(triggers), 2)]
    spans = "".join(
        f'<tspan x="{x:.0f}" dy="{0 if i == 0 else 13}">{escape(line)}</tspan>' for i, line in enumerate(lines)
    )
    return f'<text class="trigger" x="{x:.0f}" y="{y - 13 * (len(lines) - 1):.0f}">{spans}</text>'


def _edge_svg(edge: Edge, triggers: list[str], at: dict[Status, tuple[float, float]], back: bool, bottom: float) -> str:
    (sx, sy), (dx, dy) = at[edge[0]], at[edge[1]]
    label = ""
    if edge[0] == edge[1]:
        top = sy - NODE_H / 2
        lift = top - 44
        path = f"M{sx - 18:.0f},{top:.0f} C{sx - 40:.0f},{lift:.0f} {sx + 40:.0f},{lift:.0f} {sx + 18:.0f},{top:.0f}"
        label = _label(sx, top - 40, triggers)
    elif back:
        start, end = (sx, sy + NODE_H / 2), (dx, dy + NODE_H / 2)
        control = ((sx + dx) / 2, bottom)
        path = f"M{start[0]:.0f},{start[1]:.0f} Q{control[0]:.0f},{control[1]:.0f} {end[0]:.0f},{end[1]:.0f}"
    else:
        start, end = (sx + NODE_W / 2, sy), (dx - NODE_W / 2, dy)
        span = round((dx - sx) / COLUMN_GAP)
        # A move that skips a column bows under the states in between.
        bow = 0.0 if span <= 1 else ROW_GAP * 0.9
        control = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + bow)
        path = f"M{start[0]:.0f},{start[1]:.0f} Q{control[0]:.0f},{control[1]:.0f} {end[0]:.0f},{end[1]:.0f}"
    return f'<g class="move" data-move="{edge[0]}-{edge[1]}"><path d="{path}" marker-end="url(#arrow)"/>{label}</g>'


def _arrivals(edges: dict[Edge, list[str]], at: dict[Status, tuple[float, float]], back: set[Edge]) -> list[str]:
    """One label per state for the moves that arrive there from elsewhere: left of it, just
    above the arrowheads, for forward moves; under it, beside the curves, for moves back."""
    forward: dict[Status, list[str]] = defaultdict(list)
    returning: dict[Status, list[str]] = defaultdict(list)
    for (source, dest), triggers in edges.items():
        if source == dest:
            continue
        names = returning[dest] if (source, dest) in back else forward[dest]
        names.extend(t for t in triggers if t not in names)
    labels = []
    for dest, names in forward.items():
        x, y = at[dest]
        labels.append(
            f'<text class="trigger arriving" data-arrives="{dest}" x="{x - NODE_W / 2 - 8:.0f}" '
            f'y="{y - 8:.0f}">{escape(", ".join(names))}</text>'
        )
    for dest, names in returning.items():
        x, y = at[dest]
        labels.append(
            f'<text class="trigger returning" data-arrives="{dest}" x="{x + 14:.0f}" '
            f'y="{y + NODE_H / 2 + 18:.0f}">{escape(", ".join(names))}</text>'
        )
    return labels


def _node_svg(status: Status, x: float, y: float, current: Status | None) -> str:
    classes = " ".join(["state", *(["final"] if status in FINAL else []), *(["current"] if status == current else [])])
    aria = ' aria-current="true"' if status == current else ""
    return (
        f'<g class="{classes}" data-state="{status}"{aria}>'
        f'<rect x="{x - NODE_W / 2:.0f}" y="{y - NODE_H / 2:.0f}" width="{NODE_W}" height="{NODE_H}" rx="10"/>'
        f'<text x="{x:.0f}" y="{y + 5:.0f}">{status}</text></g>'
    )


@cache
def state_diagram(current: Status | None) -> Markup:
    """The lifecycle with `current` highlighted (cached: six states, six pictures)."""
    edges = _edges()
    at = _positions(edges)
    lowest = max(y for _, y in at.values()) + NODE_H / 2
    width = max(x for x, _ in at.values()) + NODE_W / 2 + MARGIN_X
    height = lowest + BACK_ROOM
    back = _back_edges(edges)
    moves = [_edge_svg(e, t, at, e in back, lowest + BACK_ROOM) for e, t in edges.items()]
    nodes = [_node_svg(status, x, y, current) for status, (x, y) in at.items()]
    labels = _arrivals(edges, at, back)
    title = f"job lifecycle, current state: {current}" if current else "job lifecycle"
    return Markup(
        f'<svg class="lifecycle" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>'
        + "".join(moves)
        + "".join(labels)
        + "".join(nodes)
        + "</svg>"
    )
