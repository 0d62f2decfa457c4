"""Schedule events are stored forever beside the jobs': they round-trip, keep their tags,
decode old JSON, and one decoder reads the events of either kind of stream."""

import inspect
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import events as job_events
from domain import streams
from domain.checkpoint import CHECKPOINT_EVENT_TYPES
from domain.schedule.decider import fold
from domain.schedule.events import (
    SCHEDULE_EVENT_TYPES,
    AnyScheduleEvent,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleFired,
    SchedulePaused,
    ScheduleResumed,
    ScheduleTriggered,
    ScheduleUpdated,
    decoder,
    encoder,
    list_decoder,
)
from domain.schedule.policies import CatchUp, NoJob, Overlap
from domain.schedule.state import decoder as state_decoder
from domain.schedule.state import encoder as state_encoder
from tests.domain.strategies import events_of
from tests.domain.test_events import EXPECTED as JOB_EXPECTED

GOLDEN = Path(__file__).parents[1] / "golden" / "schedule"
TAGS = [cls.__name__ for cls in SCHEDULE_EVENT_TYPES]
JOB_ID = UUID("0b5e55ed-0000-4000-8000-00000000002a")
PREVIOUS_JOB_ID = UUID("0b5e55ed-0000-4000-8000-000000000029")


def _utc(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2025, 1, 1, hour, minute, second, tzinfo=UTC)


# What each golden file must decode to. Never edit a golden file to make a test pass:
# it is JSON already stored in some log; change the code so that it still decodes.
EXPECTED: dict[str, AnyScheduleEvent] = {
    "ScheduleCreated": ScheduleCreated(
        at=_utc(12, 0),
        owner="ada",
        kind="crawl",
        params={"query": "jobs in lisbon", "pages": [1, 2]},
        target_results=200,
        max_runs=10,
        deadline_s=1800.0,
        cron="30 2 * * 1-5",
        time_zone="Europe/Berlin",
        overlap=Overlap.CANCEL_PREVIOUS,
        catch_up=CatchUp.SKIP,
        end_at=_utc(23, 59),
        idempotency_key="req-5c4e",
        paused=True,
    ),
    "ScheduleUpdated": ScheduleUpdated(at=_utc(12, 5), cron="0 3 * * 1-5", end_at=None),
    "SchedulePaused": SchedulePaused(at=_utc(12, 6)),
    "ScheduleResumed": ScheduleResumed(at=_utc(12, 7)),
    "ScheduleDeleted": ScheduleDeleted(at=_utc(18, 0)),
    "ScheduleFired": ScheduleFired(
        at=_utc(13, 0, 2), tick=_utc(13, 0), job_id=JOB_ID, missed=3, cancelled_job_id=PREVIOUS_JOB_ID
    ),
    "ScheduleTriggered": ScheduleTriggered(at=_utc(13, 30), reason=NoJob.OVERLAP),
}


any_event = st.one_of(*map(events_of, SCHEDULE_EVENT_TYPES))


# -- round trips --------------------------------------------------------------------------


@settings(max_examples=300)
@given(any_event)
def test_every_schedule_event_survives_a_round_trip_through_json(event):
    assert decoder.decode(encoder.encode(event)) == event


@given(st.lists(any_event, max_size=5))
def test_a_list_of_schedule_events_survives_a_round_trip_through_json(events):
    assert list_decoder.decode(encoder.encode(events)) == events


@given(any_event)
def test_the_log_s_decoder_reads_schedule_events_as_their_own_decoder_does(event):
    assert streams.decoder.decode(encoder.encode(event)) == event


def test_one_list_decoder_reads_a_log_of_both_kinds_of_stream():
    mixed = [JOB_EXPECTED["JobCreated"], EXPECTED["ScheduleFired"], JOB_EXPECTED["JobStarted"]]
    decoded = streams.list_decoder.decode(streams.encoder.encode(mixed))
    assert decoded == mixed
    assert [streams.kind_of(event) for event in decoded] == ["job", "schedule", "job"]


def test_the_job_decoder_knows_only_job_events():
    with pytest.raises(msgspec.ValidationError, match="ScheduleFired"):
        job_events.decoder.decode(encoder.encode(EXPECTED["ScheduleFired"]))


def test_an_update_stores_only_the_fields_it_changed():
    stored = msgspec.json.decode(encoder.encode(ScheduleUpdated(at=_utc(12, 0), end_at=None)))
    assert stored == {"type": "ScheduleUpdated", "at": "2025-01-01T12:00:00Z", "end_at": None}


def test_an_update_tells_a_field_cleared_from_a_field_left_alone():
    cleared = decoder.decode(b'{"type":"ScheduleUpdated","at":"2025-01-01T12:00:00Z","end_at":null}')
    untouched = decoder.decode(b'{"type":"ScheduleUpdated","at":"2025-01-01T12:00:00Z"}')
    assert isinstance(cleared, ScheduleUpdated) and isinstance(untouched, ScheduleUpdated)
    assert cleared.changed() == {"end_at": None}
    assert untouched.changed() == {}


def test_a_schedule_s_snapshot_survives_a_round_trip_through_json():
    state = fold([EXPECTED["ScheduleCreated"], EXPECTED["ScheduleUpdated"], EXPECTED["ScheduleFired"]])
    assert state_decoder.decode(state_encoder.encode(state)) == state


# -- golden files -------------------------------------------------------------------------


@pytest.mark.parametrize("tag", TAGS)
def test_every_schedule_event_type_has_a_golden_file_and_an_expected_value(tag):
    assert (GOLDEN / f"{tag}.json").is_file(), f"write tests/domain/golden/schedule/{tag}.json as it would be stored"
    assert type(EXPECTED.get(tag)).__name__ == tag, f"add the value golden/schedule/{tag}.json decodes to in EXPECTED"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda path: path.stem)
def test_a_stored_golden_schedule_event_still_decodes_to_the_same_value(path):
    event = streams.decoder.decode(path.read_bytes())
    assert event == EXPECTED[path.stem]
    assert streams.type_name(event) == path.stem


def test_fields_unknown_to_this_code_are_ignored():
    stored = b'{"type":"SchedulePaused","at":"2025-01-01T12:00:00Z","by":"ops","note":{"x":1}}'
    assert decoder.decode(stored) == SchedulePaused(at=_utc(12, 0))


# -- tags ---------------------------------------------------------------------------------


def test_no_two_events_in_the_log_share_a_tag():
    tags = [cls.__struct_config__.tag for cls in streams.EVENT_TYPES]
    assert (
        len(set(tags))
        == len(tags)
        == len(job_events.EVENT_TYPES) + len(SCHEDULE_EVENT_TYPES) + len(CHECKPOINT_EVENT_TYPES)
    )


@pytest.mark.parametrize("cls", SCHEDULE_EVENT_TYPES, ids=TAGS)
def test_each_schedule_event_is_a_frozen_keyword_only_struct_tagged_with_its_class_name(cls):
    config = cls.__struct_config__
    assert (config.tag_field, config.tag, config.frozen) == ("type", cls.__name__, True)
    assert not config.forbid_unknown_fields
    assert all(field.kind is inspect.Parameter.KEYWORD_ONLY for field in inspect.signature(cls).parameters.values())
