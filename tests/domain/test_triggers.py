"""The Machine judges every move: whatever the state, each event `decide` emits is a legal move."""

import typing
from datetime import timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

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
from domain.errors import DomainError
from domain.events import JobCreated, JobTimedOut
from domain.job import decide, evolve
from domain.lifecycle import MACHINE, Status, Trigger, next_status
from domain.state import JobState
from domain.triggers import COMMAND_TRIGGERS, EVENT_TRIGGERS
from tests.domain.given import T0

COMMAND_TYPES = typing.get_args(AnyCommand)

moments = st.integers(min_value=-90, max_value=90).map(lambda minutes: T0 + timedelta(minutes=minutes))
later = st.integers(min_value=-30, max_value=300).map(lambda minutes: T0 + timedelta(minutes=minutes))
small = st.integers(min_value=0, max_value=3)

# Any state at all, reachable or not (the Machine is consulted whatever the counters say), weighted
# toward running jobs and commands that move them.
states = st.builds(
    JobState,
    version=st.integers(min_value=0, max_value=12),
    status=st.sampled_from([*Status, Status.PROCESSING, Status.PROCESSING, Status.PENDING, None]),
    owner=st.just("ada"),
    kind=st.just("crawl"),
    max_runs=st.integers(min_value=1, max_value=5),
    target_results=st.none() | st.integers(min_value=1, max_value=30),
    deadline=st.none() | later,
    delay_s=st.just(2.0),
    backoff_factor=st.just(2.0),
    max_delay_s=st.just(30.0),
    processed_runs=st.integers(min_value=0, max_value=5),
    processed_results=st.integers(min_value=0, max_value=30),
    next_run=st.integers(min_value=1, max_value=6),
    requeues=small,
    max_requeues=small,
    redispatches=small,
    max_redispatches=small,
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[JobState, AnyCommand]:
    """A state and a command aimed at it: mostly its current run and version, sometimes not."""
    state = draw(states)
    at = draw(moments)
    run = state.next_run + draw(st.sampled_from([0, 0, 0, -1, 1]))
    version = state.version - draw(st.sampled_from([0, 0, 1]))
    command: AnyCommand
    match draw(st.sampled_from([*COMMAND_TYPES[1:], RecordBatch, RecordBatch, CreateJob])).__name__:
        case "CreateJob":
            command = CreateJob(at=at, owner="bob", kind="crawl", max_runs=draw(small))
        case "StartRun":
            command = StartRun(at=at, run=run)
        case "RecordBatch":
            command = RecordBatch(at=at, run=run, results=draw(st.integers(0, 20)), has_more=draw(st.booleans()))
        case "FailDelivery":
            command = FailDelivery(at=at, run=run, attempt=1, error="502")
        case "FailJob":
            command = FailJob(at=at, reason="dlq", run=draw(st.sampled_from([None, run])))
        case "TimeOut":
            command = TimeOut(at=at)
        case "Cancel":
            command = Cancel(at=at)
        case "Requeue":
            command = Requeue(at=at, deadline=draw(st.none() | moments))
        case "Redispatch":
            command = Redispatch(at=at, run=run, seen_version=version)
    return state, command


def test_every_command_but_create_job_names_a_move_of_the_machine():
    assert set(COMMAND_TRIGGERS) == set(COMMAND_TYPES) - {CreateJob}


def test_every_trigger_of_a_command_or_an_event_is_one_the_machine_declares():
    assert {*COMMAND_TRIGGERS.values(), *EVENT_TRIGGERS.values()} <= set(map(Trigger, MACHINE.events))


RUNNING = JobState(version=2, status=Status.PROCESSING, owner="ada", kind="crawl", max_runs=3)


@settings(max_examples=300, deadline=None)
@given(cases())
@example((RUNNING, RecordBatch(at=T0, run=1, results=2, has_more=True)))  # recorded, then continued
@example((RUNNING, RecordBatch(at=T0, run=1, results=2, has_more=False)))  # recorded, then completed
def test_every_event_decide_emits_is_a_move_the_machine_allows_from_the_status_before_it(case):
    state, command = case
    try:
        events = decide(command, state)
    except DomainError:
        return
    for event in events:
        if isinstance(event, JobCreated):
            assert state.status is None, "only a job that does not exist yet is created"
            expected = Status(MACHINE.initial)
        else:
            expected = next_status(state.status, EVENT_TRIGGERS[type(event)])
            assert expected is not None, f"{type(event).__name__} is not a move from {state.status}"
        state = evolve(state, event)
        assert state.status is expected


@settings(max_examples=150, deadline=None)
@given(cases())
def test_a_command_makes_the_move_it_names_unless_it_finds_the_job_overdue(case):
    state, command = case
    try:
        events = decide(command, state)
    except DomainError:
        return
    if not events or isinstance(command, CreateJob):
        return
    first = events[0]
    assert EVENT_TRIGGERS[type(first)] is COMMAND_TRIGGERS[type(command)] or isinstance(first, JobTimedOut)
