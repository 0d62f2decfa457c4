"""Events are stored forever: they must round-trip, keep their tags and decode old JSON."""

import inspect
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.events import (
    EVENT_TYPES,
    AnyEvent,
    BatchRecorded,
    ContinuationScheduled,
    DeliveryFailed,
    JobCancelled,
    JobCompleted,
    JobCreated,
    JobFailed,
    JobRequeued,
    JobStarted,
    JobTimedOut,
    RunRedispatched,
    decoder,
    encoder,
    list_decoder,
    type_name,
)
from tests.domain.strategies import events_of

GOLDEN = Path(__file__).parent / "golden"
TAGS = [cls.__name__ for cls in EVENT_TYPES]


def _utc(hour: int, minute: int, second: int = 0, microsecond: int = 0) -> datetime:
    return datetime(2025, 1, 1, hour, minute, second, microsecond, tzinfo=UTC)


# What each golden file must decode to. Never edit a golden file to make a test pass:
# it is JSON already stored in some log; change the code so that it still decodes.
EXPECTED: dict[str, AnyEvent] = {
    "JobCreated": JobCreated(
        at=_utc(12, 0),
        owner="ada",
        kind="crawl",
        max_runs=10,
        params={"query": "jobs in lisbon", "pages": [1, 2], "strict": True, "ratio": 0.5, "since": None},
        target_results=200,
        max_requeues=3,
        deadline=_utc(13, 0),
        delay_s=2.0,
        backoff_factor=1.5,
        max_delay_s=300.0,
        idempotency_key="req-7f3a",
    ),
    "JobStarted": JobStarted(at=_utc(12, 0, 1, 250_000), run=1),
    "BatchRecorded": BatchRecorded(
        at=_utc(12, 0, 2), run=1, results=20, has_more=True, cursor="page-2", duration_ms=840
    ),
    "ContinuationScheduled": ContinuationScheduled(at=_utc(12, 0, 2), run=2, delay_s=3.0),
    "DeliveryFailed": DeliveryFailed(at=_utc(12, 0, 6), run=2, attempt=1, error="upstream returned 502"),
    "JobCompleted": JobCompleted(at=_utc(12, 5), reason="target_met"),
    "JobFailed": JobFailed(at=_utc(12, 7), reason="retries_exhausted", error="upstream returned 502", dlq_id="dlq-91"),
    "JobTimedOut": JobTimedOut(at=_utc(13, 0, 30), deadline=_utc(13, 0), detected_by="sweeper"),
    "JobCancelled": JobCancelled(at=_utc(12, 3), reason="no longer needed"),
    "JobRequeued": JobRequeued(at=_utc(14, 0), requeue=1, deadline=_utc(15, 0)),
    "RunRedispatched": RunRedispatched(at=_utc(14, 30), run=3, redispatch=1),
}


any_event = st.one_of(*map(events_of, EVENT_TYPES))


# -- round trips --------------------------------------------------------------------------


@settings(max_examples=300)
@given(any_event)
def test_every_event_survives_a_round_trip_through_json(event):
    assert decoder.decode(encoder.encode(event)) == event


@given(st.lists(any_event, max_size=5))
def test_a_list_of_events_survives_a_round_trip_through_json(events):
    assert list_decoder.decode(encoder.encode(events)) == events


def test_a_stored_event_names_its_type_with_the_tag():
    assert msgspec.json.decode(encoder.encode(EXPECTED["JobStarted"]))["type"] == "JobStarted"


# -- golden files -------------------------------------------------------------------------


@pytest.mark.parametrize("tag", TAGS)
def test_every_event_type_has_a_golden_file_and_an_expected_value(tag):
    assert (GOLDEN / f"{tag}.json").is_file(), f"write tests/domain/golden/{tag}.json as it would be stored"
    assert type(EXPECTED.get(tag)).__name__ == tag, f"add the value golden/{tag}.json decodes to in EXPECTED"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda path: path.stem)
def test_a_stored_golden_event_still_decodes_to_the_same_value(path):
    event = decoder.decode(path.read_bytes())
    assert event == EXPECTED[path.stem]
    assert type_name(event) == path.stem


def test_fields_unknown_to_this_code_are_ignored():
    stored = b'{"type":"JobStarted","run":3,"worker":"w-2","trace":{"id":[1,2]},"at":"2025-01-01T12:00:00Z"}'
    assert decoder.decode(stored) == JobStarted(at=_utc(12, 0), run=3)


def test_fields_missing_from_an_older_event_take_their_defaults():
    stored = b'{"type":"BatchRecorded","run":1,"results":5,"has_more":false,"at":"2025-01-01T12:00:00Z"}'
    assert decoder.decode(stored) == BatchRecorded(at=_utc(12, 0), run=1, results=5, has_more=False)


def test_an_unknown_event_type_is_refused_rather_than_guessed():
    with pytest.raises(msgspec.ValidationError, match="JobExploded"):
        decoder.decode(b'{"type":"JobExploded","at":"2025-01-01T12:00:00Z"}')


# -- tags ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=TAGS)
def test_each_event_is_stored_under_a_permanent_tag_equal_to_its_class_name(cls):
    assert cls.__struct_config__.tag_field == "type"
    assert cls.__struct_config__.tag == cls.__name__


def test_no_two_event_types_share_a_tag():
    assert len(set(TAGS)) == len(EVENT_TYPES)


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=TAGS)
def test_events_are_frozen(cls):
    assert cls.__struct_config__.frozen


def test_events_are_keyword_only():
    positional = [
        f"{cls.__name__}.{name}"
        for cls in EVENT_TYPES
        for name, parameter in inspect.signature(cls).parameters.items()
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY
    ]
    assert positional == []


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=TAGS)
def test_events_tolerate_unknown_fields_so_old_code_reads_newer_events(cls):
    assert not cls.__struct_config__.forbid_unknown_fields
