"""What the pages show, shaped from the log and the read model: rows, a timeline, a badge."""

from collections import OrderedDict
from collections.abc import Iterable

import msgspec
from markupsafe import Markup

from domain.lifecycle import ACTIVE, Status
from projections.chain import ChainReport
from projections.log import RecordedEvent
from service.dashboard.formats import when

STATUSES = [str(status) for status in Status]
_NOT_DETAILS = {"type", "at"}


class Badge(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    label: str
    detail: str


# An event never changes, so neither does its timeline row: each is rendered once and kept,
# by the event's hash, for the next page or poll that shows it (escaping its cells was most
# of a short job's page). A row is about a kilobyte.
ROWS_KEPT = 2048
_ROW = Markup(
    '<tr data-version="{version}"><td>{version}</td><td class="when">{at}</td><td>{type}</td>'
    '<td class="details">{details}</td><td>{actor}</td><td><code>{message_id}</code></td>'
    "<td>{retried}</td><td><code>{request_id}</code></td></tr>\n"
)
_DETAIL = Markup("<span><b>{}</b>: <code>{}</code></span> ")
_rows: OrderedDict[bytes, Markup] = OrderedDict()


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


def timeline(events: Iterable[RecordedEvent]) -> Markup:
    """The events' timeline rows, in the order given."""
    return Markup("").join(_row(e) for e in events)


def is_live(status: str | Status | None) -> bool:
    """Pages keep polling while the job can still change by itself."""
    return status in ACTIVE


def _row(recorded: RecordedEvent) -> Markup:
    if (row := _rows.get(recorded.hash)) is not None:
        _rows.move_to_end(recorded.hash)
        return row
    fields = msgspec.structs.asdict(recorded.event)
    details = [(name, _shown(v)) for name, v in fields.items() if name not in _NOT_DETAILS and v is not None]
    meta = recorded.metadata
    row = _ROW.format(
        version=recorded.version,
        at=when(recorded.recorded_at, precise=True),
        type=recorded.type,
        details=Markup("").join(_DETAIL.format(name, value) for name, value in details),
        actor=meta.actor or "",
        message_id=meta.message_id or "",
        retried="" if meta.retried is None else meta.retried,
        request_id=meta.request_id or "",
    )
    _rows[recorded.hash] = row
    if len(_rows) > ROWS_KEPT:
        _rows.popitem(last=False)
    return row


def _shown(value: object) -> str:
    """As JSON, whatever the type: `true`, `"a cursor"`, `[1, 2]`, never a Python repr."""
    return msgspec.json.encode(value).decode()
