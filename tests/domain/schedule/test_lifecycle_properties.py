"""Random command sequences through the schedule's decide/evolve keep every invariant:
each event is a move its Machine allows, replay rebuilds the state, each tick fires once."""

from datetime import timedelta
from uuid import uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.errors import DomainError
from domain.schedule.commands import (
    AnyScheduleCommand,
    CreateSchedule,
    DeleteSchedule,
    FireSchedule,
    PauseSchedule,
    ResumeSchedule,
    TriggerSchedule,
    UpdateSchedule,
)
from domain.schedule.decider import decide, evolve, fold
from domain.schedule.errors import IllegalScheduleMove, ScheduleAlreadyExists
from domain.schedule.events import SCHEDULE_EVENT_TYPES, ScheduleCreated, ScheduleFired, ScheduleTriggered
from domain.schedule.jobs import job_id_for
from domain.schedule.lifecycle import FINAL, MACHINE, TRANSITIONS, ScheduleStatus
from domain.schedule.policies import CatchUp, NoJob, Overlap
from domain.schedule.state import INITIAL
from domain.schedule.triggers import EVENT_TRIGGERS
from tests.domain.schedule.given import SCHEDULE_ID, T0

crons = st.sampled_from(["* * * * *", "*/5 * * * *", "0 * * * *", "30 2 * * *", "15,45 9-17 * * 1-5"])
zones = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
ends = st.none() | st.integers(1, 3 * 86400).map(lambda seconds: timedelta(seconds=seconds))
# Mostly short steps (repeated and late copies of the same tick), sometimes an outage.
steps = st.one_of(st.integers(0, 90), st.integers(0, 90), st.integers(0, 3600), st.integers(0, 86400)).map(
    lambda seconds: timedelta(seconds=seconds)
)


def test_every_schedule_event_but_its_creation_is_a_move_of_the_machine():
    assert set(EVENT_TRIGGERS) == set(SCHEDULE_EVENT_TYPES) - {ScheduleCreated}


class ScheduleLifecycle(RuleBasedStateMachine):
    """One schedule: each rule issues a command, then the model checks what came out."""

    @initialize(
        cron=crons,
        time_zone=zones,
        overlap=st.sampled_from(Overlap),
        catch_up=st.sampled_from(CatchUp),
        paused=st.booleans(),
        start=st.integers(0, 400 * 86400).map(lambda seconds: T0 + timedelta(seconds=seconds)),
    )
    def create(self, cron, time_zone, overlap, catch_up, paused, start):
        self.now, self.state, self.history, self.delivered = start, INITIAL, [], {}
        command = CreateSchedule(
            at=start,
            owner="ada",
            kind="crawl",
            cron=cron,
            time_zone=time_zone,
            overlap=overlap,
            catch_up=catch_up,
            paused=paused,
        )
        self.issue(command)
        assert self.state.status is (ScheduleStatus.PAUSED if paused else ScheduleStatus.ACTIVE)

    def later(self, step: timedelta):
        self.now += step
        return self.now

    def issue(self, command: AnyScheduleCommand) -> None:
        before = self.state
        try:
            events = decide(command, before)
        except DomainError as error:
            assert isinstance(error, IllegalScheduleMove) or not isinstance(command, FireSchedule)
            assert self.state is before
            return
        state = before
        for event in events:  # each event must be a legal move from the state the previous one left
            assert event.at == command.at
            if isinstance(event, ScheduleCreated):
                assert state.status is None
                expected = ScheduleStatus.PAUSED if event.paused else ScheduleStatus(MACHINE.initial)
            else:
                expected = TRANSITIONS.get((state.status, EVENT_TRIGGERS[type(event)]))
                assert expected is not None, f"{type(event).__name__} is not a move from {state.status}"
            if isinstance(event, ScheduleFired):
                self.delivered[event.tick] = command.at
                assert before.end_at is None or event.tick <= before.end_at, "no tick past the end fires"
            if isinstance(event, ScheduleFired | ScheduleTriggered) and event.reason is not NoJob.MISSED:
                overlapping = isinstance(command, FireSchedule | TriggerSchedule) and command.previous_job_active
                skips = overlapping and before.last_job_id is not None and before.overlap is Overlap.SKIP
                assert (event.job_id is None) == skips, "the overlap policy decides whether a job is created"
            state = evolve(state, event)
            assert state.status is expected
        if before.status in FINAL:
            assert events == [], "a deleted schedule absorbs every command"
        self.state, self.history = state, self.history + events

    @rule(step=steps, previous_job_active=st.booleans(), early_s=st.sampled_from([0.0, 0.0, 2.0]))
    def fire(self, step, previous_job_active, early_s):
        at = self.later(step)
        self.issue(
            FireSchedule(at=at, schedule_id=SCHEDULE_ID, previous_job_active=previous_job_active, early_s=early_s)
        )

    @rule(count=st.integers(2, 30), step=st.integers(1, 900), previous_job_active=st.booleans())
    def fires_come_for_a_while(self, count, step, previous_job_active):
        for _ in range(count):
            self.fire(timedelta(seconds=step), previous_job_active, 0.0)

    @rule(step=steps, previous_job_active=st.booleans())
    def trigger(self, step, previous_job_active):
        self.issue(TriggerSchedule(at=self.later(step), job_id=uuid4(), previous_job_active=previous_job_active))

    @rule(step=steps)
    def pause(self, step):
        self.issue(PauseSchedule(at=self.later(step)))

    @rule(step=steps)
    def resume(self, step):
        self.issue(ResumeSchedule(at=self.later(step)))

    @rule(step=steps, decided=st.integers(0, 9))
    def delete(self, step, decided):
        if decided == 0:  # rarely: a deleted schedule has nothing left to show
            self.issue(DeleteSchedule(at=self.later(step)))

    @rule(
        step=steps,
        cron=st.none() | crons,
        time_zone=st.none() | zones,
        overlap=st.none() | st.sampled_from(Overlap),
        end=st.none() | ends,
        clear_end=st.booleans(),
    )
    def update(self, step, cron, time_zone, overlap, end, clear_end):
        at = self.later(step)
        changes = {"cron": cron, "time_zone": time_zone, "overlap": overlap}
        changes = {name: value for name, value in changes.items() if value is not None}
        if end is not None:
            changes["end_at"] = at + end
        elif clear_end:
            changes["end_at"] = None
        self.issue(UpdateSchedule(at=at, **changes))

    @rule(step=steps)
    def create_again(self, step):
        try:
            decide(CreateSchedule(at=self.later(step), owner="bob", kind="crawl", cron="* * * * *"), self.state)
        except ScheduleAlreadyExists:
            return
        raise AssertionError("a schedule was created twice")

    @invariant()
    def status_is_a_machine_state(self):
        assert self.state.status in MACHINE.states

    @invariant()
    def version_counts_the_events_applied(self):
        assert self.state.version == len(self.history)

    @invariant()
    def replaying_the_history_rebuilds_the_same_state(self):
        assert fold(self.history) == self.state

    @invariant()
    def each_tick_is_recorded_once_in_order_and_not_before_it_came(self):
        ticks = [event.tick for event in self.history if isinstance(event, ScheduleFired)]
        assert ticks == sorted(set(ticks))
        assert all(tick <= self.delivered[tick] + timedelta(seconds=2) for tick in ticks)
        if ticks:
            assert self.state.last_tick == ticks[-1] and self.state.ticks_after >= ticks[-1]

    @invariant()
    def each_job_is_created_once_by_its_tick_or_by_hand(self):
        jobs = [event.job_id for event in self.history if isinstance(event, ScheduleFired | ScheduleTriggered)]
        created = [job for job in jobs if job is not None]
        assert len(created) == len(set(created)) == self.state.jobs_created
        for event in self.history:
            if isinstance(event, ScheduleFired) and event.job_id is not None:
                assert event.job_id == job_id_for(SCHEDULE_ID, event.tick)
            if isinstance(event, ScheduleFired | ScheduleTriggered):
                assert (event.job_id is None) == (event.reason is not None)
                assert event.reason is not NoJob.MISSED or isinstance(event, ScheduleFired)

    @invariant()
    def a_cancelled_job_is_the_one_before(self):
        last = None
        for event in self.history:
            if isinstance(event, ScheduleFired | ScheduleTriggered) and event.job_id is not None:
                assert event.cancelled_job_id in (None, last)
                last = event.job_id


ScheduleLifecycle.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestAnyRandomSequenceOfScheduleCommandsKeepsTheInvariants = ScheduleLifecycle.TestCase
