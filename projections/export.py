"""Export a history as NDJSON and verify one without a database.

Each line is one event with data and metadata exactly as stored (so as hashed); the
last line names the chain head. `jobtrail verify-export FILE` needs only this module.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

import msgspec

from projections.chain import ChainLink, ChainReport, verify
from projections.log import RecordedEvent


class ExportedEvent(msgspec.Struct, frozen=True, kw_only=True, tag="event", tag_field="kind"):
    position: int
    stream_id: UUID
    version: int
    type: str
    recorded_at: datetime
    data: msgspec.Raw
    metadata: msgspec.Raw
    prev_hash: str | None
    hash: str


class ExportHead(msgspec.Struct, frozen=True, kw_only=True, tag="head", tag_field="kind"):
    stream_id: UUID
    events: int
    chain_head: str | None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ExportedEvent | ExportHead)


def event_line(e: RecordedEvent) -> bytes:
    """One event as an export line: data and metadata exactly as stored."""
    return (
        _encoder.encode(
            ExportedEvent(
                position=e.position,
                stream_id=e.stream_id,
                version=e.version,
                type=e.type,
                recorded_at=e.recorded_at,
                data=e.data,
                metadata=e.metadata_raw,
                prev_hash=e.prev_hash.hex() if e.prev_hash else None,
                hash=e.hash.hex(),
            )
        )
        + b"\n"
    )


def export_lines(stream_id: UUID, events: Sequence[RecordedEvent]) -> Iterable[bytes]:
    yield from map(event_line, events)
    head = events[-1].hash.hex() if events else None
    yield _encoder.encode(ExportHead(stream_id=stream_id, events=len(events), chain_head=head)) + b"\n"


class ExportError(Exception):
    """The file is not an export this service wrote."""


def verify_export(lines: Iterable[bytes]) -> ChainReport:
    events: list[ExportedEvent] = []
    head: ExportHead | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if head is not None:
            raise ExportError(f"line {number}: content after the head line")
        try:
            item = _decoder.decode(line)
        except msgspec.DecodeError as error:
            raise ExportError(f"line {number}: {error}") from None
        if isinstance(item, ExportHead):
            head = item
        else:
            events.append(item)
    if head is None:
        raise ExportError("no head line: the export is truncated")
    report = verify([_link(e) for e in events])
    if report.ok and (head.events != len(events) or head.chain_head != report.head):
        return ChainReport(
            ok=False, events=len(events), head=report.head, problem="the head line does not match the events"
        )
    return report


def _link(e: ExportedEvent) -> ChainLink:
    return ChainLink(
        stream_id=e.stream_id,
        version=e.version,
        type=e.type,
        data=e.data,
        metadata=e.metadata,
        recorded_at=e.recorded_at,
        prev_hash=bytes.fromhex(e.prev_hash) if e.prev_hash else None,
        hash=bytes.fromhex(e.hash),
    )
