"""A timeline row: every value escaped, rendered once per event and kept within a bound."""

import hashlib
import uuid
from datetime import UTC, datetime

import msgspec

from domain.events import DeliveryFailed
from projections.log import Metadata, RecordedEvent
from service.dashboard import views

AT = datetime(2026, 1, 2, 13, 4, 5, 678000, tzinfo=UTC)


def recorded(version: int, error: str = "boom") -> RecordedEvent:
    event = DeliveryFailed(at=AT, run=1, attempt=version, error=error)
    return RecordedEvent(
        position=version,
        stream_id=uuid.UUID(int=1),
        version=version,
        type="DeliveryFailed",
        event=event,
        metadata=Metadata(actor="qstash", message_id="msg_<1>", retried=0),
        recorded_at=AT,
        data=msgspec.Raw(msgspec.json.encode(event)),
        metadata_raw=msgspec.Raw(b"{}"),
        prev_hash=None,
        hash=hashlib.sha256(f"{version}{error}".encode()).digest(),
    )


def test_a_row_shows_every_field_escaped_and_a_retry_count_of_zero() -> None:
    row = str(views.timeline([recorded(7, error='<script>alert("x")</script>')]))
    assert '<tr data-version="7"><td>7</td><td class="when">2026-01-02 13:04:05.678 UTC</td>' in row
    assert "&lt;script&gt;" in row and "<script>" not in row
    assert "<code>msg_&lt;1&gt;</code>" in row and "<td>0</td>" in row


def test_an_events_row_is_rendered_once_and_the_rows_kept_are_bounded() -> None:
    first = recorded(1)
    assert views.timeline([first]) == views.timeline([recorded(1)])
    assert views._row(first) is views._row(recorded(1))  # the same event: the row kept
    for version in range(2, views.ROWS_KEPT + 10):
        views.timeline([recorded(version)])
    assert len(views._rows) == views.ROWS_KEPT
    assert first.hash not in views._rows  # the least recently shown went first
