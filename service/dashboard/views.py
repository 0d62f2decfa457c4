"""What the pages show, shaped from the log and the read model: rows, a timeline, a badge."""

from collections.abc import Iterable
from datetime import datetime

import msgspec

from domain.lifecycle import ACTIVE, Status
from projections.chain import ChainReport
from projections.log import RecordedEvent

STATUSES = [str(status) for status in Status]
_NOT_DETAILS = {"type", "at"}


class Badge(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    label: str
    detail: str


class EventRow(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    recorded_at: datetime
    type: str
    details: list[tuple[str, str]]
    actor: str | None
    message_id: str | None
    retried: int | None
    request_id: str | None


def chain_badge(report: ChainReport) -> Badge:
    """Say plainly whether the history holds, and where it breaks when it does not."""
    if report.ok:
        head = (report.head or "")[:12]
        return Badge(ok=True, label="hash chain verified", detail=f"{report.events} events, head {head}…")
    return Badge(
        ok=False,
        label="hash chain broken",
        detail=f"at version {report.first_bad_version}: {report.problem}",
    )


def timeline(events: Iterable[RecordedEvent]) -> list[EventRow]:
    return [_row(e) for e in events]


def is_live(status: str | Status | None) -> bool:
    """Pages keep polling while the job can still change by itself."""
    return status in ACTIVE


def _row(recorded: RecordedEvent) -> EventRow:
    fields = msgspec.structs.asdict(recorded.event)
    details = [(name, _shown(v)) for name, v in fields.items() if name not in _NOT_DETAILS and v is not None]
    meta = recorded.metadata
    return EventRow(
        version=recorded.version,
        recorded_at=recorded.recorded_at,
        type=recorded.type,
        details=details,
        actor=meta.actor,
        message_id=meta.message_id,
        retried=meta.retried,
        request_id=meta.request_id,
    )


def _shown(value: object) -> str:
    """As JSON, whatever the type: `true`, `"a cursor"`, `[1, 2]`, never a Python repr."""
    return msgspec.json.encode(value).decode()
