"""Render a job's history for people (a timeline) and for programs (NDJSON)."""

from collections.abc import Sequence

import msgspec

from projections.chain import ChainReport
from projections.export import event_line
from projections.log import RecordedEvent

_HIDDEN = {"type", "at"}


def timeline(events: Sequence[RecordedEvent]) -> list[str]:
    lines = []
    for recorded in events:
        fields = msgspec.structs.asdict(recorded.event)
        details = " ".join(f"{k}={_show(v)}" for k, v in fields.items() if k not in _HIDDEN and v is not None)
        provenance = " ".join(f"{k}={v}" for k, v in msgspec.structs.asdict(recorded.metadata).items() if v is not None)
        stamp = recorded.recorded_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        lines.append(
            f"v{recorded.version:<4} {stamp}  {recorded.type:<22} {details}"
            + (f"  [{provenance}]" if provenance else "")
        )
    return lines


def verdict(report: ChainReport) -> str:
    if report.ok:
        return f"hash chain verified: {report.events} events, head {report.head}"
    return f"hash chain BROKEN at version {report.first_bad_version}: {report.problem}"


def _show(value: object) -> str:
    if isinstance(value, dict):
        return msgspec.json.encode(value).decode()
    return str(value)


def ndjson(events: Sequence[RecordedEvent]) -> list[str]:
    """One JSON object per event, data and metadata exactly as stored (the export's lines)."""
    return [event_line(e).decode().rstrip("\n") for e in events]
