"""The checkpoint event: its stored form, its stream kind, and the exact text it signs."""

from datetime import UTC, datetime
from pathlib import Path

from domain import streams
from domain.checkpoint import CheckpointIssued, key_id_of, signed_text, timestamp
from domain.streams import StreamKind, kind_of

GOLDEN = Path(__file__).parent / "golden" / "checkpoint" / "CheckpointIssued.json"
EXPECTED = CheckpointIssued(
    at=datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC),
    tree_size=1234,
    root_hash="5f1b8a7c9d0e3f2a4b6c8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c",
    key_id="0f1e2d3c4b5a6978",
    signature="c2lnbmF0dXJl",
)


def test_the_stored_checkpoint_decodes_with_the_log_s_decoder_and_is_a_checkpoint_stream_s():
    event = streams.decoder.decode(GOLDEN.read_bytes())
    assert event == EXPECTED
    assert kind_of(event) is StreamKind.CHECKPOINT


def test_the_signed_text_is_five_lines_in_a_fixed_order():
    text = signed_text(1234, EXPECTED.root_hash, timestamp(EXPECTED.at), EXPECTED.key_id)
    assert text == (
        b"jobtrail checkpoint v1\n"
        b"tree_size 1234\n"
        b"root_hash 5f1b8a7c9d0e3f2a4b6c8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c\n"
        b"issued_at 2026-03-01T12:00:00.250000Z\n"
        b"key_id 0f1e2d3c4b5a6978\n"
    )


def test_an_instant_is_signed_in_utc_with_microseconds_even_when_they_are_zero():
    assert timestamp(datetime(2026, 3, 1, 12, tzinfo=UTC)) == "2026-03-01T12:00:00.000000Z"


def test_a_key_id_is_the_start_of_the_public_key_s_sha256():
    assert key_id_of(bytes(32)) == "66687aadf862bd77"
