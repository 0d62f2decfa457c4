"""Render a job's history for people (a timeline, colored on a terminal) and for programs (NDJSON).

A line is built once as rich `Text`: a terminal gets its styles, a pipe or a file its
plain characters. Text objects are never parsed as markup, so an event's own brackets
print as they are.
"""

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, TextIO

import msgspec
from rich.console import Console
from rich.text import Text

from projections.chain import ChainReport
from projections.export import InclusionReport, event_line
from projections.log import RecordedEvent

ColorChoice = Literal["auto", "always", "never"]

_HIDDEN = {"type", "at"}
# Endings stand out; trouble is yellow; the routine is left plain.
_STYLES = {
    "JobCreated": "cyan",
    "JobStarted": "blue",
    "DeliveryFailed": "yellow",
    "RunRedispatched": "yellow",
    "JobRequeued": "cyan",
    "JobCompleted": "bold green",
    "JobFailed": "bold red",
    "JobTimedOut": "bold magenta",
    "JobCancelled": "bold yellow",
}


def console(color: ColorChoice = "auto", file: TextIO | None = None) -> Console:
    """A console on stdout that colors a terminal (or when told to), never wraps, never guesses styles.

    "auto" colors only a terminal and honors NO_COLOR and FORCE_COLOR.
    """
    return Console(
        file=file or sys.stdout,
        force_terminal=True if color == "always" else None,
        no_color=color == "never",
        # Every style here is one of the 8 standard colors, which any color terminal shows.
        color_system={"auto": "auto", "always": "standard", "never": None}[color],
        highlight=False,
        soft_wrap=True,
    )


def timeline_text(events: Sequence[RecordedEvent]) -> list[Text]:
    return [
        timeline_line(
            e.version, e.recorded_at, e.type, msgspec.structs.asdict(e.event), msgspec.structs.asdict(e.metadata)
        )
        for e in events
    ]


def timeline_line(
    version: int, recorded_at: datetime, type: str, fields: dict[str, Any], provenance: dict[str, Any]
) -> Text:
    """One event: its version, time, type, fields and provenance (a stored event's or an API document's)."""
    details = " ".join(f"{k}={_show(v)}" for k, v in fields.items() if k not in _HIDDEN and v is not None)
    origin = " ".join(f"{k}={v}" for k, v in provenance.items() if v is not None)
    stamp = recorded_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    line = Text.assemble(
        (f"v{version:<4} {stamp}  ", "dim"),
        (f"{type:<22}", _STYLES.get(type, "")),
        f" {details}",
    )
    if origin:
        line.append(f"  [{origin}]", "dim")
    return line


def timeline(events: Sequence[RecordedEvent]) -> list[str]:
    return [line.plain for line in timeline_text(events)]


def verdict(report: ChainReport) -> str:
    if report.ok:
        return f"hash chain verified: {report.events} events, head {report.head}"
    return f"hash chain BROKEN at version {report.first_bad_version}: {report.problem}"


def inclusion_verdict(report: InclusionReport) -> str:
    if not report.ok:
        return f"signed checkpoint NOT VERIFIED: {report.problem}"
    later = f"; {report.unproven} later events are not yet in a checkpoint" if report.unproven else ""
    return (
        f"signed checkpoint verified: {report.proven} events are leaves of the tree of size {report.tree_size} "
        f"signed at {report.issued_at} by key {report.key_id}{later}"
    )


def _show(value: object) -> str:
    if isinstance(value, dict):
        return msgspec.json.encode(value).decode()
    return str(value)


def ndjson(events: Sequence[RecordedEvent]) -> list[str]:
    """One JSON object per event, data and metadata exactly as stored (the export's lines)."""
    return [event_line(e).decode().rstrip("\n") for e in events]
