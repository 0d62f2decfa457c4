"""Random command sequences through decide/evolve keep every lifecycle invariant."""

from datetime import timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.commands import (
    AnyCommand,
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
from domain.errors import DomainError, JobAlreadyExists
from domain.events import (
    EVENT_TYPES,
    BatchRecorded,
    ContinuationScheduled,
    DeliveryFailed,
    JobCreated,
    JobRequeued,
    JobStarted,
)
from domain.job import decide, evolve, fold
from domain.lifecycle import FINAL, MACHINE, TRANSITIONS, Status
from domain.state import INITIAL
from domain.triggers import EVENT_TRIGGERS
from tests.domain.given import T0

seconds = st.integers(min_value=0, max_value=90)
run_offsets = st.sampled_from([0, 0, 0, -2, -1, 1, 2])  # mostly the current run, sometimes stale or future
more = st.sampled_from([True, True, True, False])  # mostly more to fetch, so jobs run for a while
results_counts = st.integers(min_value=0, max_value=20)


def test_every_event_but_job_created_is_a_move_of_the_machine():
    assert set(EVENT_TRIGGERS) == set(EVENT_TYPES) - {JobCreated}


class JobLifecycle(RuleBasedStateMachine):
    """One job: each rule issues a command, then the model checks what came out."""

    @initialize(
        max_runs=st.integers(min_value=1, max_value=8),
        target_results=st.none() | st.integers(min_value=1, max_value=50),
        max_requeues=st.integers(min_value=0, max_value=2),
        deadline_after=st.none() | st.integers(min_value=1, max_value=3600),
    )
    def create(self, max_runs, target_results, max_requeues, deadline_after):
        self.now, self.state, self.history = T0, INITIAL, []
        deadline = None if deadline_after is None else T0 + timedelta(seconds=deadline_after)
        self.issue(
            CreateJob(
                at=T0,
                owner="ada",
                kind="crawl",
                max_runs=max_runs,
                target_results=target_results,
                max_requeues=max_requeues,
                deadline=deadline,
                delay_s=1.0,
                backoff_factor=2.0,
                max_delay_s=10.0,
            )
        )
        assert self.state.status is Status.PENDING

    def tick(self, elapsed: int):
        self.now += timedelta(seconds=elapsed)
        return self.now

    def issue(self, command: AnyCommand) -> None:
        before = self.state
        try:
            events = decide(command, before)
        except DomainError:
            assert self.state is before and self.state.version == len(self.history)
            return
        if before.status in FINAL:
            assert events == [], "a final state absorbs every command"
        state = before
        for event in events:  # each event must be a legal move from the state the previous one left
            assert event.at == command.at
            if isinstance(event, JobCreated):
                assert state.status is None
                expected = Status(MACHINE.initial)
            else:
                expected = TRANSITIONS.get((state.status, EVENT_TRIGGERS[type(event)]))
                assert expected is not None, f"{type(event).__name__} is not a move from {state.status}"
            if isinstance(event, JobStarted | BatchRecorded | DeliveryFailed):
                assert event.run == state.next_run, "only the current run is started, recorded or failed"
            if isinstance(event, ContinuationScheduled):
                assert event.run == state.next_run + 1 <= state.max_runs
            state = evolve(state, event)
            assert state.status is expected
        self.state, self.history = state, self.history + events

    @rule(offset=run_offsets, elapsed=seconds)
    def start_run(self, offset, elapsed):
        self.issue(StartRun(at=self.tick(elapsed), run=self.state.next_run + offset))

    @rule(results=results_counts, has_more=more, elapsed=seconds)
    def deliver_the_current_run(self, results, has_more, elapsed):
        self.issue(StartRun(at=self.tick(elapsed), run=self.state.next_run))
        run = self.state.next_run
        self.issue(RecordBatch(at=self.tick(elapsed), run=run, results=results, has_more=has_more))

    @rule(runs=st.integers(min_value=2, max_value=8), results=results_counts, elapsed=seconds)
    def several_runs_go_well(self, runs, results, elapsed):
        for _ in range(runs):
            self.deliver_the_current_run(results, True, elapsed)

    @rule(offset=run_offsets, results=results_counts, has_more=more, elapsed=seconds)
    def record_batch(self, offset, results, has_more, elapsed):
        run = self.state.next_run + offset
        self.issue(RecordBatch(at=self.tick(elapsed), run=run, results=results, has_more=has_more))

    @rule(offset=run_offsets, attempt=st.integers(min_value=1, max_value=5), elapsed=seconds)
    def fail_delivery(self, offset, attempt, elapsed):
        self.issue(FailDelivery(at=self.tick(elapsed), run=self.state.next_run + offset, attempt=attempt, error="502"))

    @rule(offset=st.none() | run_offsets, elapsed=seconds)
    def fail_job(self, offset, elapsed):
        run = None if offset is None else self.state.next_run + offset
        self.issue(FailJob(at=self.tick(elapsed), reason="dlq", run=run))

    @rule(detected_by=st.sampled_from(["sweeper", "read"]), elapsed=seconds)
    def time_out(self, detected_by, elapsed):
        self.issue(TimeOut(at=self.tick(elapsed), detected_by=detected_by))

    @rule(elapsed=seconds)
    def cancel(self, elapsed):
        self.issue(Cancel(at=self.tick(elapsed)))

    @rule(deadline_after=st.none() | st.integers(min_value=-60, max_value=1800), elapsed=seconds)
    def requeue(self, deadline_after, elapsed):
        now = self.tick(elapsed)
        deadline = None if deadline_after is None else now + timedelta(seconds=deadline_after)
        self.issue(Requeue(at=now, deadline=deadline))

    @rule(offset=run_offsets, stale=st.booleans(), elapsed=seconds)
    def redispatch(self, offset, stale, elapsed):
        seen = self.state.version - 1 if stale else self.state.version
        self.issue(Redispatch(at=self.tick(elapsed), run=self.state.next_run + offset, seen_version=seen))

    @rule(elapsed=seconds)
    def create_again(self, elapsed):
        try:
            decide(CreateJob(at=self.tick(elapsed), owner="bob", kind="crawl", max_runs=1), self.state)
        except JobAlreadyExists:
            return
        raise AssertionError("a job was created twice")

    @rule(elapsed=st.integers(min_value=600, max_value=3600))
    def a_long_while_passes(self, elapsed):
        self.tick(elapsed)

    @invariant()
    def status_is_a_machine_state(self):
        assert self.state.status in MACHINE.states

    @invariant()
    def runs_stay_within_the_limit_and_are_never_repeated(self):
        assert self.state.processed_runs <= self.state.max_runs
        finished_its_last_run = self.state.status is Status.COMPLETED
        assert self.state.next_run == self.state.processed_runs + (0 if finished_its_last_run else 1)
        assert [e.run for e in self.history if isinstance(e, BatchRecorded)] == list(
            range(1, self.state.processed_runs + 1)
        )

    @invariant()
    def requeues_stay_within_the_limit(self):
        assert self.state.requeues <= self.state.max_requeues

    @invariant()
    def attempts_count_the_failed_deliveries_since_the_last_batch_or_requeue(self):
        since = 0
        for event in self.history:
            since = (
                since + 1
                if isinstance(event, DeliveryFailed)
                else 0
                if isinstance(event, BatchRecorded | JobRequeued)
                else since
            )
        assert self.state.attempts == since

    @invariant()
    def a_run_is_redispatched_at_most_max_redispatches_times(self):
        assert self.state.redispatches <= self.state.max_redispatches

    @invariant()
    def version_counts_the_events_applied(self):
        assert self.state.version == len(self.history)

    @invariant()
    def replaying_the_history_rebuilds_the_same_state(self):
        assert fold(self.history) == self.state

    @invariant()
    def a_completed_job_completed_for_a_reason_its_counters_bear_out(self):
        if self.state.status is not Status.COMPLETED:
            return
        state = self.state
        last_batch = next(e for e in reversed(self.history) if isinstance(e, BatchRecorded))
        target_met = state.target_results is not None and state.processed_results >= state.target_results
        match state.outcome:
            case "target_met":
                assert target_met
            case "exhausted":
                assert not target_met and not last_batch.has_more
            case "max_runs_reached":
                assert not target_met and last_batch.has_more and state.processed_runs == state.max_runs
            case other:
                raise AssertionError(f"completed for an unknown reason {other!r}")


JobLifecycle.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
TestAnyRandomSequenceOfCommandsKeepsTheLifecycleInvariants = JobLifecycle.TestCase
