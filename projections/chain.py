"""Hash-chain verification, usable with or without a database.

The database computes each event's hash as sha256(prev_hash || canonical) when the
event is inserted (migrations/0001_events.sql). The canonical text is the jsonb
rendering of [stream_id, version, type, data, metadata, recorded_at]; since jsonb
prints deterministically, it is rebuilt here from the stored text of data and
metadata, byte for byte.
"""

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

import msgspec


class ChainLink(msgspec.Struct, frozen=True, kw_only=True):
    """The stored fields of one event that its hash covers, plus the hashes."""

    stream_id: UUID
    version: int
    type: str
    data: msgspec.Raw
    metadata: msgspec.Raw
    recorded_at: datetime
    prev_hash: bytes | None
    hash: bytes


class ChainReport(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    events: int
    head: str | None = None  # hex hash of the last event that verified
    first_bad_version: int | None = None
    problem: str | None = None


def canonical(link: ChainLink) -> bytes:
    stamp = link.recorded_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    parts = (
        msgspec.json.encode(str(link.stream_id)),
        str(link.version).encode(),
        msgspec.json.encode(link.type),
        bytes(link.data),
        bytes(link.metadata),
        msgspec.json.encode(stamp),
    )
    return b"[" + b", ".join(parts) + b"]"


def link_hash(prev_hash: bytes | None, link: ChainLink) -> bytes:
    return hashlib.sha256((prev_hash or b"") + canonical(link)).digest()


def verify(links: Sequence[ChainLink], after: ChainLink | None = None) -> ChainReport:
    """Check a stream in version order; name the first event that does not hold.

    `after` continues a chain already verified up to that event (events cannot be
    edited once stored), so a watcher checks only what was appended since.
    """
    prev = after.hash if after else None
    first = after.version + 1 if after else 1
    for expected_version, link in enumerate(links, start=first):
        problem = None
        if link.version != expected_version:
            problem = f"version {link.version} found where {expected_version} was expected"
        elif link.prev_hash != prev:
            problem = "prev_hash does not match the hash of the event before it"
        elif link_hash(prev, link) != link.hash:
            problem = "hash does not match the event's contents"
        if problem:
            head = prev.hex() if prev else None
            return ChainReport(
                ok=False, events=first - 1 + len(links), head=head, first_bad_version=expected_version, problem=problem
            )
        prev = link.hash
    return ChainReport(ok=True, events=first - 1 + len(links), head=prev.hex() if prev else None)
