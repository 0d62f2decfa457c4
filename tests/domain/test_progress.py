"""A job's progress: results against the work it knows of (a target, the source's size), else none."""

from typing import Literal

import msgspec
import pytest
from hypothesis import given as hypothesis_given
from hypothesis import settings
from hypothesis import strategies as st

from domain.commands import AnyCommand, RecordBatch, StartRun
from domain.errors import InvalidCommand
from domain.events import AnyEvent, BatchRecorded, ContinuationScheduled, JobStarted
from domain.job import decide, evolve, fold
from domain.lifecycle import ACTIVE, Status
from domain.state import INITIAL, JobState, progress
from tests.domain.given import at, created, given

BIGINT = 2**63 - 1


def recorded(results: int, *, total: int | None = None, remaining: int | None = None) -> list[AnyEvent]:
    """A job without a target, started, with one batch of `results` reporting `size`."""
    return [
        created(max_runs=100),
        JobStarted(at=at(1), run=1),
        BatchRecorded(at=at(2), run=1, results=results, has_more=True, total=total, remaining=remaining),
        ContinuationScheduled(at=at(2), run=2, delay_s=1.0),
    ]


@pytest.mark.parametrize(
    ("state", "percent"),
    [
        (JobState(target_results=40, processed_results=10, max_runs=2, processed_runs=2), 25.0),
        (JobState(target_results=10, processed_results=15), 100.0),
        (JobState(expected_results=200, processed_results=20), 10.0),
        (JobState(target_results=400, expected_results=100, processed_results=20), 20.0),
        (JobState(target_results=50, expected_results=1000, processed_results=20), 40.0),
        (JobState(expected_results=0), 100.0),
        (JobState(max_runs=4, processed_runs=1, processed_results=20), None),
        (INITIAL, None),
    ],
    ids=[
        "against-target",
        "target-capped",
        "against-expected",
        "expected-below-target",
        "target-below-expected",
        "nothing-expected",
        "runs-tell-nothing",
        "neither",
    ],
)
def test_progress_is_results_against_the_smaller_of_target_and_expected_else_unknown(state, percent):
    assert progress(state) == percent


def test_a_completed_job_is_wholly_done_even_when_its_source_ran_dry_early():
    exhausted = JobState(
        status=Status.COMPLETED, target_results=100, processed_results=40, max_runs=50, processed_runs=2
    )
    assert progress(exhausted) == 100.0
    assert progress(msgspec.structs.replace(exhausted, status=Status.PROCESSING)) == 40.0


def test_a_count_job_a_tenth_through_its_source_is_ten_percent_done():
    assert progress(fold(recorded(20, total=200))) == 10.0


def test_what_remains_after_a_batch_adds_to_the_results_so_far():
    state = fold(recorded(20, remaining=60))
    assert (state.expected_results, progress(state)) == (80, 25.0)


def test_a_batch_that_says_nothing_of_the_size_keeps_the_last_estimate():
    history = [
        *recorded(20, total=200),
        JobStarted(at=at(3), run=2),
        BatchRecorded(at=at(4), run=2, results=30, has_more=True),
    ]
    assert (fold(history).expected_results, progress(fold(history))) == (200, 25.0)


def test_a_recorded_batch_carries_the_size_the_source_reported():
    history: list[AnyEvent] = [created(max_runs=5), JobStarted(at=at(1), run=1)]
    given(*history).when(RecordBatch(at=at(2), run=1, results=20, has_more=True, total=90, remaining=70)).then(
        BatchRecorded(at=at(2), run=1, results=20, has_more=True, total=90, remaining=70),
        ContinuationScheduled(at=at(2), run=2, delay_s=0.0),
    )


@pytest.mark.parametrize("size", [{"total": -1}, {"remaining": -5}])
def test_a_negative_size_is_refused(size):
    history: list[AnyEvent] = [created(max_runs=5), JobStarted(at=at(1), run=1)]
    given(*history).when(RecordBatch(at=at(2), run=1, results=20, has_more=True, **size)).raises(
        InvalidCommand, match="negative"
    )


# -- properties ---------------------------------------------------------------------------


@settings(max_examples=300)
@hypothesis_given(
    st.builds(
        JobState,
        status=st.none() | st.sampled_from(Status),
        processed_results=st.integers(0, BIGINT),
        target_results=st.none() | st.integers(1, BIGINT),
        expected_results=st.none() | st.integers(0, BIGINT),
    )
)
def test_progress_is_unknown_or_between_nothing_and_all(state):
    percent = progress(state)
    assert percent is None or 0.0 <= percent <= 100.0


Report = Literal["total", "remaining", "silent"]


@settings(max_examples=200)
@hypothesis_given(
    size=st.integers(0, 400),
    per_batch=st.integers(1, 60),
    target=st.none() | st.integers(1, 500),
    reports=st.lists(st.sampled_from(["total", "remaining", "silent"]), min_size=1, max_size=40),
)
def test_progress_never_goes_back_while_a_source_reports_its_size_consistently(size, per_batch, target, reports):
    """Batch after batch of a source of `size` items, each saying its total, what remains, or nothing."""
    state = fold([created(max_runs=len(reports), target_results=target)])
    seen: list[float | None] = [progress(state)]
    for run, report in enumerate(reports, start=1):
        if state.status not in ACTIVE:
            break
        results = min(per_batch, size - state.processed_results)
        sizes = {"total": {"total": size}, "remaining": {"remaining": size - state.processed_results - results}}
        commands: list[AnyCommand] = [
            StartRun(at=at(run), run=run),
            RecordBatch(
                at=at(run),
                run=run,
                results=results,
                has_more=state.processed_results + results < size,
                **sizes.get(report, {}),
            ),
        ]
        for command in commands:
            for event in decide(command, state):
                state = evolve(state, event)
                seen.append(progress(state))
    known = [percent for percent in seen if percent is not None]
    assert seen[len(seen) - len(known) :] == known, "once known, progress stays known"
    assert known == sorted(known)
    assert all(0.0 <= percent <= 100.0 for percent in known)
