"""Render a job's history for people (a timeline) and for programs (NDJSON)."""

from collections.abc import Sequence

import msgspec

from projections.chain import ChainReport
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


class HistoryLine(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    stream_id: str
    version: int
    type: str
    recorded_at: str
    data: msgspec.Raw
    metadata: msgspec.Raw
    prev_hash: str | None
    hash: str


_line_encoder = msgspec.json.Encoder()


def ndjson(events: Sequence[RecordedEvent]) -> list[str]:
    """One JSON object per event, data and metadata exactly as stored (and hashed)."""
    return [
        _line_encoder.encode(
            HistoryLine(
                position=e.position,
                stream_id=str(e.stream_id),
                version=e.version,
                type=e.type,
                recorded_at=e.recorded_at.isoformat(),
                data=e.data,
                metadata=e.metadata_raw,
                prev_hash=e.prev_hash.hex() if e.prev_hash else None,
                hash=e.hash.hex(),
            )
        ).decode()
        for e in events
    ]
