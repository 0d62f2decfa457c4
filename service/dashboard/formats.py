"""How the pages write instants and spans: with the date and the zone (UTC), and in
units a person reads at a glance."""

from datetime import UTC, datetime

from jinja2 import Environment


def when(at: datetime | None, precise: bool = False) -> str:
    """`2026-01-02 13:04:05 UTC`; with `precise`, milliseconds too."""
    if at is None:
        return "—"
    utc = at.astimezone(UTC)
    shown = utc.strftime("%Y-%m-%d %H:%M:%S")
    return f"{shown}.{utc.microsecond // 1000:03d} UTC" if precise else f"{shown} UTC"


def span(seconds: float | None) -> str:
    """`850 ms`, `12.4 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def register(environment: Environment) -> None:
    environment.filters["when"] = when
    environment.filters["span"] = span
