"""Every rule of `decide`, as given events / when a command / then events."""

from datetime import timedelta

import pytest
from msgspec.structs import replace

from domain.commands import (
    Cancel,
    CreateJob,
    FailDelivery,
    FailJob,
    RecordBatch,
    Redispatch,
    Requeue,
    StartRun,
    TimeOut,
)
from domain.errors import (
    IllegalTransition,
    InvalidCommand,
    JobAlreadyExists,
    JobNotFound,
    RequeueLimitReached,
)
from domain.events import (
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
)
from domain.job import decide, evolve
from domain.kinds import KindConfig, continuation_delay, create_job
from domain.lifecycle import Status, Trigger
from tests.domain.given import T0, at, created, given

DEADLINE = at(60)


def running(**changes) -> list:
    """A job created at T0 and started on its first run a minute later."""
    return [created(**changes), JobStarted(at=at(1), run=1)]


def completed() -> list:
    return [
        *running(max_runs=1),
        BatchRecorded(at=at(2), run=1, results=1, has_more=True),
        JobCompleted(at=at(2), reason="max_runs_reached"),
    ]


def failed(**changes) -> list:
    return [*running(**changes), JobFailed(at=at(2), reason="dlq")]


def timed_out(**changes) -> list:
    timeout = JobTimedOut(at=DEADLINE, deadline=DEADLINE, detected_by="sweeper")
    return [created(deadline=DEADLINE, **changes), timeout]


def cancelled() -> list:
    return [created(), JobCancelled(at=at(1))]


# -- create -------------------------------------------------------------------------------


def test_creating_a_job_records_every_value_the_command_carries():
    command = CreateJob(
        at=T0,
        owner="ada",
        kind="crawl",
        max_runs=5,
        params={"q": "x"},
        target_results=40,
        max_requeues=2,
        deadline=DEADLINE,
        delay_s=1.5,
        backoff_factor=2.0,
        max_delay_s=30.0,
        idempotency_key="k-1",
    )
    given().when(command).then(
        JobCreated(
            at=T0,
            owner="ada",
            kind="crawl",
            max_runs=5,
            params={"q": "x"},
            target_results=40,
            max_requeues=2,
            deadline=DEADLINE,
            delay_s=1.5,
            backoff_factor=2.0,
            max_delay_s=30.0,
            idempotency_key="k-1",
        )
    )


def test_a_created_job_is_pending_on_its_first_run():
    state = given(created()).state
    assert (state.status, state.next_run, state.version) == (Status.PENDING, 1, 1)


def test_creating_a_job_that_already_exists_is_refused():
    given(created()).when(CreateJob(at=at(1), owner="ada", kind="crawl", max_runs=3)).raises(JobAlreadyExists)


@pytest.mark.parametrize("max_runs", [0, -1])
def test_a_job_must_be_allowed_at_least_one_run(max_runs):
    given().when(CreateJob(at=T0, owner="ada", kind="crawl", max_runs=max_runs)).raises(
        InvalidCommand, match="max_runs"
    )


@pytest.mark.parametrize("target", [0, -5])
def test_a_target_must_be_at_least_one_result(target):
    command = CreateJob(at=T0, owner="ada", kind="crawl", max_runs=3, target_results=target)
    given().when(command).raises(InvalidCommand, match="target_results")


@pytest.mark.parametrize(
    "command",
    [
        StartRun(at=T0, run=1),
        RecordBatch(at=T0, run=1, results=1, has_more=False),
        FailDelivery(at=T0, run=1, attempt=1, error="boom"),
        FailJob(at=T0, reason="dlq"),
        TimeOut(at=T0),
        Cancel(at=T0),
        Requeue(at=T0),
    ],
    ids=lambda command: type(command).__name__,
)
def test_any_command_but_create_on_a_job_that_does_not_exist_is_refused(command):
    given().when(command).raises(JobNotFound)


# -- start --------------------------------------------------------------------------------


def test_a_pending_job_starts_on_its_current_run():
    given(created()).when(StartRun(at=at(1), run=1)).then(JobStarted(at=at(1), run=1))


def test_a_repeated_start_of_the_running_run_changes_nothing():
    given(*running()).when(StartRun(at=at(2), run=1)).then()


@pytest.mark.parametrize("run", [0, 2, 7], ids=["stale", "next", "far-future"])
def test_a_start_for_any_run_but_the_current_one_changes_nothing(run):
    given(created()).when(StartRun(at=at(1), run=run)).then()


def test_a_start_for_a_run_already_recorded_changes_nothing():
    history = [
        *running(),
        BatchRecorded(at=at(2), run=1, results=1, has_more=True),
        ContinuationScheduled(at=at(2), run=2, delay_s=0.0),
    ]
    given(*history).when(StartRun(at=at(3), run=1)).then()


# -- record a batch -----------------------------------------------------------------------


def test_a_recorded_batch_schedules_the_next_run_after_the_base_delay():
    given(*running(delay_s=10.0, backoff_factor=2.0, max_delay_s=25.0)).when(
        RecordBatch(at=at(2), run=1, results=4, has_more=True, cursor="c1", duration_ms=80)
    ).then(
        BatchRecorded(at=at(2), run=1, results=4, has_more=True, cursor="c1", duration_ms=80),
        ContinuationScheduled(at=at(2), run=2, delay_s=10.0),
    )


def test_the_delay_before_a_later_run_grows_by_the_backoff_up_to_its_cap():
    history = [
        *running(max_runs=5, delay_s=10.0, backoff_factor=2.0, max_delay_s=25.0),
        BatchRecorded(at=at(2), run=1, results=1, has_more=True),
        ContinuationScheduled(at=at(2), run=2, delay_s=10.0),
        JobStarted(at=at(3), run=2),
        BatchRecorded(at=at(4), run=2, results=1, has_more=True),
        ContinuationScheduled(at=at(4), run=3, delay_s=20.0),
        JobStarted(at=at(5), run=3),
    ]
    given(*history).when(RecordBatch(at=at(6), run=3, results=1, has_more=True)).then(
        BatchRecorded(at=at(6), run=3, results=1, has_more=True),
        ContinuationScheduled(at=at(6), run=4, delay_s=25.0),
    )


@pytest.mark.parametrize("run", [0, 2], ids=["stale", "future"])
def test_a_batch_for_any_run_but_the_running_one_changes_nothing(run):
    given(*running()).when(RecordBatch(at=at(2), run=run, results=1, has_more=True)).then()


def test_a_batch_for_a_job_that_has_not_started_changes_nothing():
    given(created()).when(RecordBatch(at=at(1), run=1, results=1, has_more=True)).then()


def test_a_batch_that_reaches_the_target_completes_the_job_even_on_its_last_exhausted_run():
    given(*running(max_runs=1, target_results=5)).when(RecordBatch(at=at(2), run=1, results=5, has_more=False)).then(
        BatchRecorded(at=at(2), run=1, results=5, has_more=False),
        JobCompleted(at=at(2), reason="target_met"),
    )


def test_results_count_toward_the_target_across_runs():
    history = [
        *running(target_results=10),
        BatchRecorded(at=at(2), run=1, results=6, has_more=True),
        ContinuationScheduled(at=at(2), run=2, delay_s=0.0),
        JobStarted(at=at(3), run=2),
    ]
    given(*history).when(RecordBatch(at=at(4), run=2, results=4, has_more=True)).then(
        BatchRecorded(at=at(4), run=2, results=4, has_more=True),
        JobCompleted(at=at(4), reason="target_met"),
    )


def test_a_batch_with_nothing_more_to_fetch_completes_the_job_as_exhausted_even_on_its_last_run():
    given(*running(max_runs=1, target_results=50)).when(RecordBatch(at=at(2), run=1, results=3, has_more=False)).then(
        BatchRecorded(at=at(2), run=1, results=3, has_more=False),
        JobCompleted(at=at(2), reason="exhausted"),
    )


def test_the_batch_of_the_last_allowed_run_completes_the_job_as_max_runs_reached():
    given(*running(max_runs=1, target_results=50)).when(RecordBatch(at=at(2), run=1, results=3, has_more=True)).then(
        BatchRecorded(at=at(2), run=1, results=3, has_more=True),
        JobCompleted(at=at(2), reason="max_runs_reached"),
    )


@pytest.mark.parametrize("max_runs", [1, 2, 3, 5, 8])
def test_a_job_that_always_has_more_runs_exactly_max_runs_times_and_never_schedules_beyond(max_runs):
    state, emitted, minute = given(*running(max_runs=max_runs)).state, [], 2
    while state.status is Status.PROCESSING:
        events = decide(RecordBatch(at=at(minute), run=state.next_run, results=1, has_more=True), state)
        scheduled = [e for e in events if isinstance(e, ContinuationScheduled)]
        events += [JobStarted(at=at(minute), run=e.run) for e in scheduled]
        for event in events:
            state = evolve(state, event)
        emitted += events
        minute += 1
    scheduled_runs = [e.run for e in emitted if isinstance(e, ContinuationScheduled)]
    assert scheduled_runs == list(range(2, max_runs + 1))
    assert emitted[-1] == JobCompleted(at=at(minute - 1), reason="max_runs_reached")
    assert state.processed_runs == max_runs


# -- failed deliveries --------------------------------------------------------------------


def test_a_failed_delivery_of_the_running_run_is_recorded():
    given(*running()).when(FailDelivery(at=at(2), run=1, attempt=1, error="502")).then(
        DeliveryFailed(at=at(2), run=1, attempt=1, error="502")
    )


@pytest.mark.parametrize("run", [0, 2], ids=["stale", "future"])
def test_a_failed_delivery_of_another_run_changes_nothing(run):
    given(*running()).when(FailDelivery(at=at(2), run=run, attempt=1, error="502")).then()


def test_each_failed_delivery_adds_an_attempt_and_a_recorded_batch_resets_them():
    failures = [DeliveryFailed(at=at(2), run=1, attempt=n, error=f"e{n}") for n in (1, 2)]
    state = given(*running(), *failures).state
    assert (state.attempts, state.last_error) == (2, "e2")
    state = given(*running(), *failures, BatchRecorded(at=at(3), run=1, results=1, has_more=True)).state
    assert state.attempts == 0


# -- fail the job -------------------------------------------------------------------------


def test_a_pending_job_can_be_failed():
    given(created()).when(FailJob(at=at(1), reason="dlq", error="boom", dlq_id="d-1")).then(
        JobFailed(at=at(1), reason="dlq", error="boom", dlq_id="d-1")
    )


def test_a_processing_job_can_be_failed_for_its_current_run():
    given(*running()).when(FailJob(at=at(2), reason="dlq", run=1)).then(JobFailed(at=at(2), reason="dlq"))


def test_failing_a_job_for_a_stale_run_changes_nothing():
    history = [
        *running(),
        BatchRecorded(at=at(2), run=1, results=1, has_more=True),
        ContinuationScheduled(at=at(2), run=2, delay_s=0.0),
    ]
    given(*history).when(FailJob(at=at(3), reason="dlq", run=1)).then()


@pytest.mark.parametrize("history", [completed(), cancelled(), failed()], ids=["completed", "cancelled", "error"])
def test_failing_a_job_that_is_already_over_changes_nothing(history):
    given(*history).when(FailJob(at=at(9), reason="dlq")).then()


def test_a_failed_job_keeps_the_last_delivery_error_when_the_failure_has_none():
    history = [*running(), DeliveryFailed(at=at(2), run=1, attempt=1, error="502"), JobFailed(at=at(3), reason="dlq")]
    state = given(*history).state
    assert (state.status, state.outcome, state.last_error) == (Status.ERROR, "dlq", "502")


# -- deadline -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "detected_by"),
    [
        (TimeOut(at=at(61), detected_by="read"), "read"),
        (TimeOut(at=at(61)), "sweeper"),
        (StartRun(at=at(61), run=2), "delivery"),
        (RecordBatch(at=at(61), run=1, results=1, has_more=True), "delivery"),
        (FailDelivery(at=at(61), run=1, attempt=1, error="502"), "delivery"),
        (FailJob(at=at(61), reason="dlq"), "delivery"),
        (Cancel(at=at(61)), "api"),
        (Requeue(at=at(61)), "api"),
    ],
    ids=lambda value: value if isinstance(value, str) else type(value).__name__,
)
def test_any_command_on_an_overdue_running_job_only_times_it_out(command, detected_by):
    given(*running(deadline=DEADLINE)).when(command).then(
        JobTimedOut(at=at(61), deadline=DEADLINE, detected_by=detected_by)
    )


def test_a_pending_job_times_out_from_the_very_instant_of_its_deadline():
    given(created(deadline=DEADLINE)).when(StartRun(at=DEADLINE, run=1)).then(
        JobTimedOut(at=DEADLINE, deadline=DEADLINE, detected_by="delivery")
    )


def test_a_time_out_before_the_deadline_changes_nothing():
    given(*running(deadline=DEADLINE)).when(TimeOut(at=DEADLINE - timedelta(microseconds=1))).then()


def test_a_job_without_a_deadline_never_times_out():
    given(*running()).when(TimeOut(at=at(10**6))).then()


@pytest.mark.parametrize("history", [completed(), cancelled()], ids=["completed", "cancelled"])
def test_a_finished_job_past_its_deadline_does_not_time_out(history):
    first, *rest = history
    given(replace(first, deadline=DEADLINE), *rest).when(TimeOut(at=at(61))).then()


# -- cancel -------------------------------------------------------------------------------


@pytest.mark.parametrize("history", [[created()], running()], ids=["pending", "processing"])
def test_an_active_job_can_be_cancelled(history):
    given(*history).when(Cancel(at=at(5), reason="not needed")).then(JobCancelled(at=at(5), reason="not needed"))


def test_cancelling_a_cancelled_job_again_changes_nothing():
    given(*cancelled()).when(Cancel(at=at(5))).then()


def test_cancelling_a_completed_job_is_refused_naming_its_state():
    caught = given(*completed()).when(Cancel(at=at(5))).raises(IllegalTransition, match="completed")
    assert (caught.value.status, caught.value.trigger) == (Status.COMPLETED, Trigger.CANCEL)


@pytest.mark.parametrize(("history", "status"), [(failed(), "error"), (timed_out(), "timeout")])
def test_cancelling_a_failed_or_timed_out_job_is_refused(history, status):
    given(*history).when(Cancel(at=at(90))).raises(IllegalTransition, match=status)


# -- redispatch (a lost run) ---------------------------------------------------------------


def test_a_stalled_running_job_has_its_current_run_sent_again():
    given(*running()).when(Redispatch(at=at(5), run=1, seen_version=2)).then(
        RunRedispatched(at=at(5), run=1, redispatch=1)
    )


def test_a_pending_job_whose_first_run_was_lost_is_sent_again():
    given(created()).when(Redispatch(at=at(5), run=1, seen_version=1)).then(
        RunRedispatched(at=at(5), run=1, redispatch=1)
    )


def test_two_sweepers_that_saw_the_same_stall_rescue_the_job_once():
    first = RunRedispatched(at=at(5), run=1, redispatch=1)
    given(*running(), first).when(Redispatch(at=at(5), run=1, seen_version=2)).then()


def test_a_run_is_sent_again_only_up_to_the_limit():
    lost = [RunRedispatched(at=at(5 + n), run=1, redispatch=n) for n in (1, 2)]
    given(*running(max_redispatches=2), *lost).when(Redispatch(at=at(9), run=1, seen_version=4)).then()


def test_a_recorded_batch_resets_the_count_of_redispatches():
    history = [
        *running(max_redispatches=1),
        RunRedispatched(at=at(2), run=1, redispatch=1),
        BatchRecorded(at=at(3), run=1, results=1, has_more=True),
        ContinuationScheduled(at=at(3), run=2, delay_s=0),
    ]
    given(*history).when(Redispatch(at=at(9), run=2, seen_version=5)).then(
        RunRedispatched(at=at(9), run=2, redispatch=1)
    )


@pytest.mark.parametrize("history", [completed(), cancelled(), failed()], ids=["completed", "cancelled", "error"])
def test_a_job_that_is_not_running_is_never_redispatched(history):
    given(*history).when(Redispatch(at=at(9), run=1, seen_version=len(history))).then()


# -- requeue ------------------------------------------------------------------------------


@pytest.mark.parametrize("history", [failed(max_requeues=1), timed_out(max_requeues=1)], ids=["error", "timeout"])
def test_a_failed_or_timed_out_job_can_be_requeued_with_a_new_deadline(history):
    given(*history).when(Requeue(at=at(90), deadline=at(200))).then(JobRequeued(at=at(90), requeue=1, deadline=at(200)))


def test_a_job_can_be_requeued_up_to_its_limit_and_no_further():
    history = failed(max_requeues=2)
    for requeue in (1, 2):
        history += (
            given(*history).when(Requeue(at=at(10 * requeue))).then(JobRequeued(at=at(10 * requeue), requeue=requeue))
        )
        history.append(JobFailed(at=at(10 * requeue + 1), reason="dlq"))
    caught = given(*history).when(Requeue(at=at(40))).raises(RequeueLimitReached, match="2 times")
    assert caught.value.status is Status.ERROR


def test_a_job_allowed_no_requeues_cannot_be_requeued():
    given(*failed()).when(Requeue(at=at(5))).raises(RequeueLimitReached)


@pytest.mark.parametrize(
    ("history", "status"),
    [
        ([created(max_requeues=3)], "pending"),
        (running(max_requeues=3), "processing"),
        (completed(), "completed"),
        (cancelled(), "cancelled"),
    ],
)
def test_requeueing_a_job_that_has_not_failed_or_timed_out_is_refused(history, status):
    caught = given(*history).when(Requeue(at=at(5))).raises(IllegalTransition, match=status)
    assert not isinstance(caught.value, RequeueLimitReached)


def test_a_requeued_job_resumes_from_its_next_run_without_repeating_recorded_runs():
    history = [
        *running(max_runs=5, max_requeues=1),
        BatchRecorded(at=at(2), run=1, results=3, has_more=True, cursor="c1"),
        ContinuationScheduled(at=at(2), run=2, delay_s=0.0),
        JobStarted(at=at(3), run=2),
        DeliveryFailed(at=at(4), run=2, attempt=1, error="502"),
        JobFailed(at=at(5), reason="dlq"),
        JobRequeued(at=at(6), requeue=1),
    ]
    state = given(*history).state
    assert (state.status, state.next_run, state.processed_runs, state.attempts, state.cursor) == (
        Status.PENDING,
        2,
        1,
        0,
        "c1",
    )
    assert state.outcome is None and state.finished_at is None
    given(*history).when(StartRun(at=at(7), run=1)).then()
    given(*history).when(StartRun(at=at(7), run=2)).then(JobStarted(at=at(7), run=2))


def test_a_requeue_without_a_deadline_leaves_the_job_without_one():
    history = [*timed_out(max_requeues=1), JobRequeued(at=at(90), requeue=1)]
    given(*history).when(TimeOut(at=at(10**4))).then()


# -- kinds --------------------------------------------------------------------------------


@pytest.mark.parametrize("run", [1, 2, 50])
def test_a_fixed_continuation_delay_is_the_same_for_every_run(run):
    assert continuation_delay(5.0, 1.0, 300.0, run) == 5.0


def test_an_exponential_continuation_delay_multiplies_by_the_factor_up_to_the_cap():
    assert [continuation_delay(2.0, 3.0, 100.0, run) for run in range(1, 6)] == [2.0, 6.0, 18.0, 54.0, 100.0]


def test_an_exponential_delay_without_a_cap_keeps_growing():
    assert continuation_delay(1.0, 2.0, 0.0, 11) == 1024.0


def test_an_exponential_delay_far_past_float_range_is_still_the_cap():
    assert continuation_delay(1.0, 2.0, 300.0, 5000) == 300.0


def test_no_base_delay_means_no_delay_whatever_the_factor():
    assert continuation_delay(0.0, 2.0, 300.0, 7) == 0.0


def test_a_job_may_not_ask_for_more_runs_than_its_kind_allows():
    with pytest.raises(InvalidCommand, match="exceeds"):
        create_job("crawl", KindConfig(max_runs=10), owner="ada", at=T0, max_runs=11)


def test_a_job_created_for_a_kind_takes_its_limits_pacing_and_deadline():
    config = KindConfig(
        max_runs=10, delay_s=2.0, backoff_factor=1.5, max_delay_s=60.0, deadline_s=600.0, max_requeues=1
    )
    command = create_job("crawl", config, owner="ada", at=T0, params={"q": "x"}, idempotency_key="k")
    assert command == CreateJob(
        at=T0,
        owner="ada",
        kind="crawl",
        max_runs=10,
        params={"q": "x"},
        max_requeues=1,
        deadline=T0 + timedelta(seconds=600),
        delay_s=2.0,
        backoff_factor=1.5,
        max_delay_s=60.0,
        idempotency_key="k",
    )


def test_a_job_may_tighten_its_kinds_runs_and_deadline():
    command = create_job("crawl", KindConfig(max_runs=10), owner="ada", at=T0, max_runs=4, deadline_s=30.0)
    assert (command.max_runs, command.deadline) == (4, T0 + timedelta(seconds=30))


def test_a_kind_without_a_deadline_creates_jobs_without_one():
    assert create_job("crawl", KindConfig(deadline_s=None), owner="ada", at=T0).deadline is None
