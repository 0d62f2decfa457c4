"""Check an archive file against its tombstone: the bytes' SHA-256, then the export's own
chain, and that it is the history the tombstone describes (stream, event count,
positions, chain head). Needs the store and the tombstone, not the log."""

import hashlib

import msgspec

from projections.export import ExportedEvent, ExportError, read_export, verify_export
from service.archive.store import ArchiveStore
from service.store.tombstones import Tombstone


class ArchivedHistory(msgspec.Struct, frozen=True):
    """A file that checked out: its bytes and its events, in version order."""

    data: bytes
    events: list[ExportedEvent]


class ArchiveMismatch(Exception):
    """The file is missing or is not what the tombstone describes; the message says how."""


async def load_verified(store: ArchiveStore, stone: Tombstone) -> ArchivedHistory:
    data = await store.read(stone.archive_name)
    if data is None:
        raise ArchiveMismatch(f"{stone.archive_name}: missing from the archive store")
    problem = mismatch(data, stone)
    if problem:
        raise ArchiveMismatch(f"{stone.archive_name}: {problem}")
    return ArchivedHistory(data, events_of(data))


def events_of(data: bytes) -> list[ExportedEvent]:
    """The file's events (its checkpoint and proof lines, if any, are checked by verify-export --key)."""
    return read_export(data.splitlines(keepends=True)).events


def mismatch(data: bytes, stone: Tombstone) -> str | None:
    """What is wrong with `data` as the file of `stone`; None when nothing is."""
    if hashlib.sha256(data).digest() != stone.archive_sha256:
        return f"SHA-256 {hashlib.sha256(data).hexdigest()} differs from the tombstone's {stone.archive_sha256.hex()}"
    try:
        report = verify_export(data.splitlines(keepends=True))
        events = events_of(data)
    except (ExportError, msgspec.DecodeError) as error:
        return f"not an export: {error}"
    if not report.ok:
        return f"its chain does not verify at version {report.first_bad_version}: {report.problem}"
    if report.events != stone.events:
        return f"{report.events} event(s), the tombstone says {stone.events}"
    if report.head != stone.chain_head.hex():
        return f"chain head {report.head}, the tombstone says {stone.chain_head.hex()}"
    if any(event.stream_id != stone.stream_id for event in events):
        return f"holds events of another stream than {stone.stream_id}"
    if (events[0].position, events[-1].position) != (stone.first_position, stone.last_position):
        return (
            f"positions {events[0].position}..{events[-1].position},"
            f" the tombstone says {stone.first_position}..{stone.last_position}"
        )
    return None
