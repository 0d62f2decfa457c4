"""Bar charts as inline SVG, drawn on the server.

The overview's trends need no chart library and nothing from a CDN: a few dozen
rectangles and labels are easier to draw than to load, the page stays inside its
Content-Security-Policy (`default-src 'self'`), and the picture is in the HTML a test
reads. Each bar is a stack of segments with a CSS class (its colour lives in the
stylesheet) and a `<title>` that a pointer shows.
"""

from collections.abc import Callable, Sequence
from html import escape

import msgspec
from markupsafe import Markup

WIDTH, HEIGHT = 480, 170
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 24


class Segment(msgspec.Struct, frozen=True):
    css: str  # the segment's class: its colour
    value: float
    label: str  # what the segment counts, for its tooltip


class Bar(msgspec.Struct, frozen=True):
    label: str  # under the bar, when there is room
    segments: list[Segment]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10ⁿ at or above `value`, so that the ticks read well."""
    if value <= 0:
        return 1.0
    scale = 1.0
    while scale * 10 < value:
        scale *= 10
    while scale > value:
        scale /= 10
    return next(step * scale for step in (1, 2, 5, 10) if step * scale >= value)


def ticks(top: float) -> int:
    """How many steps divide the axis into round values: whole ones up to 5, else
    fifths of a 1 or a 5 and quarters of a 2."""
    if top <= 5 and top == int(top):
        return max(int(top), 1)
    return 4 if f"{top:g}".lstrip("0.").startswith("2") else 5


def bar_chart(
    title: str,
    bars: Sequence[Bar],
    *,
    y_max: float | None = None,
    y_format: Callable[[float], str] = lambda v: f"{v:g}",
    label_every: int = 1,
) -> Markup:
    """Stacked bars on a shared axis from zero to `y_max` (by default a nice ceiling of the tallest)."""
    top = y_max if y_max is not None else nice_ceiling(max((sum(s.value for s in b.segments) for b in bars), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(bars), 1)
    parts = [_grid(top, plot_w, plot_h, y_format)]
    for i, bar in enumerate(bars):
        x = LEFT + i * slot + slot * 0.12
        base = float(TOP + plot_h)
        for segment in bar.segments:
            if segment.value <= 0:
                continue
            height = plot_h * min(segment.value, top) / top
            base -= height
            tip = f"{bar.label}: {y_format(segment.value)} {segment.label}"
            parts.append(
                f'<rect class="{escape(segment.css)}" x="{x:.1f}" y="{base:.1f}" width="{slot * 0.76:.1f}" '
                f'height="{height:.1f}"><title>{escape(tip)}</title></rect>'
            )
        if i % label_every == 0:
            parts.append(f'<text class="x" x="{x + slot * 0.38:.1f}" y="{HEIGHT - 8}">{escape(bar.label)}</text>')
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>' + "".join(parts) + "</svg>"
    )


def _grid(top: float, plot_w: float, plot_h: float, y_format: Callable[[float], str]) -> str:
    lines = []
    steps = ticks(top)
    for tick in range(steps + 1):
        value = top * tick / steps
        y = TOP + plot_h - plot_h * tick / steps
        lines.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}"/>')
        lines.append(f'<text class="y" x="{LEFT - 4}" y="{y + 4:.1f}">{escape(y_format(value))}</text>')
    return "".join(lines)
