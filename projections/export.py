"""Export a history as NDJSON and verify one without a database.

Each event line holds data and metadata exactly as stored (so as hashed); then, when the
log has a checkpoint covering the stream, the checkpoint line and one proof line per
covered event (its leaf index and inclusion path in that checkpoint's tree); the last
line names the chain head. Exports written before checkpoints existed have neither kind
and still verify. `jobtrail verify-export FILE [--key KEY]` needs only this module.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from uuid import UUID

import msgspec

from domain.merkle import ProofError, leaf_hash, verify_inclusion
from projections.chain import ChainLink, ChainReport, verify
from projections.checkpoints import Checkpoint, CheckpointError, root_bytes, verify_checkpoint
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


class ExportCheckpoint(Checkpoint, frozen=True, kw_only=True, tag="checkpoint", tag_field="kind"):
    """The signed checkpoint the proof lines lead to."""


class ExportProof(msgspec.Struct, frozen=True, kw_only=True, tag="proof", tag_field="kind"):
    """The event of `version` is leaf `leaf_index` of the checkpoint's tree: its inclusion path."""

    version: int
    leaf_index: int
    path: list[str]  # hex, bottom up


class ExportHead(msgspec.Struct, frozen=True, kw_only=True, tag="head", tag_field="kind"):
    stream_id: UUID
    events: int
    chain_head: str | None


class InclusionProof(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    leaf_index: int
    path: list[bytes]


class SignedProofs(msgspec.Struct, frozen=True, kw_only=True):
    """A checkpoint and the inclusion proofs of a stream's events in its tree."""

    checkpoint: Checkpoint
    proofs: list[InclusionProof]


class InclusionReport(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    tree_size: int | None = None
    issued_at: str | None = None
    key_id: str | None = None
    proven: int = 0  # events proven to be leaves of the signed tree
    unproven: int = 0  # events without a proof: recorded after the checkpoint
    problem: str | None = None


class Export(msgspec.Struct, frozen=True, kw_only=True):
    events: list[ExportedEvent]
    head: ExportHead
    checkpoint: ExportCheckpoint | None
    proofs: list[ExportProof]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ExportedEvent | ExportCheckpoint | ExportProof | ExportHead)


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


def export_lines(
    stream_id: UUID, events: Sequence[RecordedEvent], signed: SignedProofs | None = None
) -> Iterable[bytes]:
    yield from map(event_line, events)
    if signed is not None:
        yield _encoder.encode(ExportCheckpoint(**msgspec.structs.asdict(signed.checkpoint))) + b"\n"
        for proof in signed.proofs:
            line = ExportProof(version=proof.version, leaf_index=proof.leaf_index, path=[h.hex() for h in proof.path])
            yield _encoder.encode(line) + b"\n"
    head = events[-1].hash.hex() if events else None
    yield _encoder.encode(ExportHead(stream_id=stream_id, events=len(events), chain_head=head)) + b"\n"


class ExportError(Exception):
    """The file is not an export this service wrote."""


def read_export(lines: Iterable[bytes]) -> Export:
    events: list[ExportedEvent] = []
    proofs: list[ExportProof] = []
    checkpoint: ExportCheckpoint | None = None
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
        match item:
            case ExportHead():
                head = item
            case ExportCheckpoint():
                if checkpoint is not None:
                    raise ExportError(f"line {number}: a second checkpoint line")
                checkpoint = item
            case ExportProof():
                proofs.append(item)
            case ExportedEvent():
                events.append(item)
    if head is None:
        raise ExportError("no head line: the export is truncated")
    return Export(events=events, head=head, checkpoint=checkpoint, proofs=proofs)


def verify_export(lines: Iterable[bytes]) -> ChainReport:
    """The hash chain's verdict (any checkpoint and proofs are read, not checked: see `verify_inclusion_in`)."""
    return verify_chain(read_export(lines))


def verify_chain(export: Export) -> ChainReport:
    events, head = export.events, export.head
    report = verify([_link(e) for e in events])
    if report.ok and (head.events != len(events) or head.chain_head != report.head):
        return ChainReport(
            ok=False, events=len(events), head=report.head, problem="the head line does not match the events"
        )
    return report


def verify_inclusion_in(export: Export, keys: Mapping[str, bytes]) -> InclusionReport:
    """Whether a key in `keys` signed a tree holding this history: the checkpoint's signature,
    then each event's inclusion proof. Events recorded after the checkpoint was signed
    have no proof: they are counted as unproven, not as a failure."""
    checkpoint = export.checkpoint
    if checkpoint is None:
        return InclusionReport(ok=False, unproven=len(export.events), problem="the export holds no signed checkpoint")
    report = InclusionReport(
        ok=False, tree_size=checkpoint.tree_size, issued_at=checkpoint.issued_at, key_id=checkpoint.key_id
    )
    try:
        verify_checkpoint(checkpoint, keys)
        root = root_bytes(checkpoint)
        by_version = {e.version: e for e in export.events}
        seen: set[int] = set()
        for proof in export.proofs:
            if proof.version not in by_version or proof.version in seen:
                raise ProofError(
                    f"a proof for version {proof.version}, which is not an event of the export or is proven twice"
                )
            seen.add(proof.version)
            leaf = leaf_hash(bytes.fromhex(by_version[proof.version].hash))
            try:
                verify_inclusion(
                    proof.leaf_index, checkpoint.tree_size, leaf, [bytes.fromhex(h) for h in proof.path], root
                )
            except ProofError as error:
                raise ProofError(f"version {proof.version}: {error}") from None
    except (CheckpointError, ProofError, ValueError) as error:
        return msgspec.structs.replace(report, problem=str(error))
    proven = len(export.proofs)
    return msgspec.structs.replace(report, ok=True, proven=proven, unproven=len(export.events) - proven)


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
