"""Limits are declared once, flow unchanged from kind to state, and stored data keeps decoding."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from domain.commands import CreateJob
from domain.events import JobCreated, decoder, encoder
from domain.job import decide, fold
from domain.kinds import KindConfig, create_job
from domain.lifecycle import Status
from domain.limits import JobLimits, Limits
from domain.state import INITIAL, JobState
from domain.state import decoder as state_decoder
from domain.state import encoder as state_encoder
from tests.domain.given import T0

GOLDEN = Path(__file__).parent / "golden"


def _utc(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2025, 1, 1, hour, minute, second, tzinfo=UTC)


# -- one declaration ----------------------------------------------------------------------


@pytest.mark.parametrize("struct", [CreateJob, JobCreated, JobState], ids=lambda struct: struct.__name__)
def test_a_command_an_event_and_a_state_carry_a_jobs_limits_by_inheriting_them(struct):
    assert issubclass(struct, JobLimits)
    assert set(JobLimits.__struct_fields__) <= set(struct.__struct_fields__)


def test_a_kind_carries_the_limits_of_its_jobs_but_no_target_and_no_absolute_deadline():
    assert issubclass(KindConfig, Limits) and not issubclass(KindConfig, JobLimits)
    assert {"target_results", "deadline"}.isdisjoint(KindConfig.__struct_fields__)


def test_a_kinds_limits_keep_their_generous_defaults():
    assert KindConfig().limits == Limits(
        max_runs=100, max_requeues=3, max_redispatches=3, delay_s=0.0, backoff_factor=1.0, max_delay_s=300.0
    )


def test_limits_are_read_apart_from_the_struct_that_carries_them():
    created = JobCreated(at=T0, owner="ada", kind="crawl", max_runs=4, target_results=9, idempotency_key="k")
    assert type(created.limits) is JobLimits
    assert created.limits == JobLimits(max_runs=4, target_results=9)
    assert type(KindConfig(max_runs=7).limits) is Limits


def test_the_event_records_every_field_of_the_command_and_the_state_every_field_of_the_event_but_its_time():
    assert set(JobCreated.__struct_fields__) == set(CreateJob.__struct_fields__)
    assert set(JobCreated.__struct_fields__) - {"at"} <= set(JobState.__struct_fields__)


def test_a_jobs_limits_flow_unchanged_from_its_kind_through_command_and_event_to_its_state():
    config = KindConfig(max_runs=10, max_requeues=1, max_redispatches=2, delay_s=2.0, backoff_factor=1.5)
    command = create_job("crawl", config, owner="ada", at=T0, target_results=30, max_runs=6, deadline_s=60.0)
    expected = JobLimits(
        max_runs=6,
        max_requeues=1,
        max_redispatches=2,
        delay_s=2.0,
        backoff_factor=1.5,
        max_delay_s=300.0,
        target_results=30,
        deadline=T0 + timedelta(seconds=60),
    )
    events = decide(command, INITIAL)
    assert isinstance(created := events[0], JobCreated)
    assert command.limits == created.limits == fold(events).limits == expected


# -- stored data --------------------------------------------------------------------------


def test_a_job_created_stored_flat_decodes_to_the_limits_it_was_created_with():
    created = decoder.decode((GOLDEN / "JobCreated.json").read_bytes())
    assert isinstance(created, JobCreated)
    assert created.limits == JobLimits(
        max_runs=10,
        target_results=200,
        max_requeues=3,
        max_redispatches=3,  # not in that file: stored before redispatches had a limit
        deadline=_utc(13, 0),
        delay_s=2.0,
        backoff_factor=1.5,
        max_delay_s=300.0,
    )


def test_an_old_job_created_with_only_its_run_limit_takes_the_default_limits():
    stored = b'{"type":"JobCreated","owner":"ada","kind":"crawl","max_runs":3,"at":"2025-01-01T12:00:00Z"}'
    created = decoder.decode(stored)
    assert isinstance(created, JobCreated)
    assert created.limits == JobLimits(max_runs=3)


def test_a_job_created_is_still_stored_flat_with_no_nested_limits():
    stored = (GOLDEN / "JobCreated.json").read_bytes()
    written = encoder.encode(decoder.decode(stored))
    # fields added since that file was stored are written with their defaults
    assert msgspec.json.decode(written) == msgspec.json.decode(stored) | {"max_redispatches": 3, "notify_url": None}


STORED_STATE = JobState(
    version=9,
    status=Status.PROCESSING,
    owner="ada",
    kind="crawl",
    params={"query": "jobs in lisbon", "pages": [1, 2]},
    target_results=200,
    max_runs=10,
    max_requeues=3,
    deadline=_utc(15, 0),
    delay_s=2.0,
    backoff_factor=1.5,
    max_delay_s=300.0,
    idempotency_key="req-7f3a",
    processed_runs=2,
    processed_results=40,
    cursor="page-3",
    next_run=3,
    attempts=1,
    last_error="upstream returned 502",
    requeues=1,
    max_redispatches=2,
    redispatches=1,
    created_at=_utc(12, 0),
    started_at=_utc(12, 0, 1),
    updated_at=_utc(14, 0, 6),
)


def test_a_job_status_snapshot_stored_flat_still_decodes_to_the_same_state():
    # golden/state/JobState.json is a job_status.state value as PostgreSQL returns it (jsonb text).
    assert state_decoder.decode((GOLDEN / "state" / "JobState.json").read_bytes()) == STORED_STATE


def test_a_job_status_snapshot_is_still_written_with_the_same_flat_fields():
    stored = msgspec.json.decode((GOLDEN / "state" / "JobState.json").read_bytes())
    added_since = {"notify_url": None, "expected_results": None}
    assert msgspec.json.decode(state_encoder.encode(STORED_STATE)) == stored | added_since
