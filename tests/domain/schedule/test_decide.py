"""The schedule's decider, one fact at a time: given its events, when a command, then events."""

from datetime import UTC, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest

from domain.schedule.commands import (
    CreateSchedule,
    DeleteSchedule,
    PauseSchedule,
    ResumeSchedule,
    TriggerSchedule,
    UpdateSchedule,
)
from domain.schedule.errors import IllegalScheduleMove, InvalidSchedule, ScheduleAlreadyExists, ScheduleNotFound
from domain.schedule.events import (
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleFired,
    SchedulePaused,
    ScheduleResumed,
    ScheduleTriggered,
    ScheduleUpdated,
)
from domain.schedule.jobs import job_id_for
from domain.schedule.lifecycle import ScheduleStatus
from domain.schedule.policies import CatchUp, NoJob, Overlap
from tests.domain.schedule.given import SCHEDULE_ID, T0, at, created, fire, given

HAND_MADE = UUID("7a11d00e-0000-4000-8000-00000000000b")


def job(minutes: float) -> UUID:
    return job_id_for(SCHEDULE_ID, at(minutes))


def fired(minutes: float, tick: float, **changes: Any) -> ScheduleFired:
    """The ScheduleFired of a fire delivered `minutes` after T0 for the tick `tick` minutes after it."""
    fields: dict[str, Any] = {"at": at(minutes), "tick": at(tick), "job_id": job(tick)}
    return ScheduleFired(**fields | changes)


# -- creation -----------------------------------------------------------------------------


def test_a_schedule_is_created_with_its_cron_normalised():
    command = CreateSchedule(at=T0, owner="ada", kind="crawl", cron="  */10 *  * * *", time_zone="Europe/Berlin")
    given().when(command).then(created(cron="*/10 * * * *", time_zone="Europe/Berlin"))


def test_a_schedule_created_paused_starts_paused():
    assert given(created(paused=True)).state.status is ScheduleStatus.PAUSED
    assert given(created()).state.status is ScheduleStatus.ACTIVE


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"cron": "61 * * * *"}, "cron", "minute '61'"),
        ({"cron": "0 0 * *"}, "cron", "five fields"),
        ({"cron": "0 0 31 2 *"}, "cron", "never occurs"),
        ({"time_zone": "Europe/Atlantis"}, "time_zone", "unknown time zone"),
        ({"end_at": at(-1)}, "end_at", "in the past"),
        ({"cron": "0 3 * * *", "end_at": at(60)}, "end_at", "would not fire once"),
        ({"max_runs": 0}, "max_runs", "at least 1"),
        ({"target_results": 0}, "target_results", "at least 1"),
        ({"deadline_s": 0.0}, "deadline_s", "positive"),
    ],
)
def test_a_schedule_that_cannot_work_is_refused_naming_the_field(changes, field, message):
    fields = {"at": T0, "owner": "ada", "kind": "crawl", "cron": "*/10 * * * *"} | changes
    caught = given().when(CreateSchedule(**fields)).raises(InvalidSchedule, match=message)
    assert caught.value.field == field


def test_a_schedule_is_created_once():
    given(created()).when(CreateSchedule(at=at(1), owner="ada", kind="crawl", cron="* * * * *")).raises(
        ScheduleAlreadyExists
    )


@pytest.mark.parametrize(
    "command",
    [PauseSchedule(at=T0), ResumeSchedule(at=T0), DeleteSchedule(at=T0), UpdateSchedule(at=T0, cron="* * * * *")],
    ids=type,
)
def test_a_command_on_a_schedule_that_does_not_exist_is_refused(command):
    given().when(command).raises(ScheduleNotFound)


def test_a_fire_for_a_schedule_that_does_not_exist_is_refused():
    given().when(fire(10)).raises(ScheduleNotFound)


# -- fires --------------------------------------------------------------------------------


def test_a_fire_creates_the_job_of_its_tick():
    given(created()).when(fire(10.02)).then(fired(10.02, tick=10))


def test_the_job_of_a_tick_is_named_by_the_schedule_and_the_tick_alone():
    assert job_id_for(SCHEDULE_ID, at(10)) == job_id_for(SCHEDULE_ID, at(10).astimezone())
    assert len({job_id_for(SCHEDULE_ID, at(10)), job_id_for(SCHEDULE_ID, at(20)), job_id_for(HAND_MADE, at(10))}) == 3


@pytest.mark.parametrize("minutes", [10.02, 10.5, 19.99])
def test_a_repeated_or_late_copy_of_a_fired_tick_does_nothing(minutes):
    given(created(), fired(10.01, tick=10)).when(fire(minutes)).then()


def test_a_fire_before_the_first_tick_after_creation_does_nothing():
    given(created()).when(fire(5)).then()  # the tick at T0 is the moment of creation, not after it


def test_ticks_missed_in_between_are_counted_and_get_no_job():
    given(created()).when(fire(30.1)).then(fired(30.1, tick=30, missed=2))


def test_a_tick_delivered_past_the_tolerance_is_missed_under_catch_up_skip():
    hourly = created(cron="0 * * * *", catch_up=CatchUp.SKIP)
    given(hourly).when(fire(70)).then(ScheduleFired(at=at(70), tick=at(60), reason=NoJob.MISSED))
    given(hourly).when(fire(64)).then(fired(64, tick=60))  # within the five minutes' tolerance
    given(hourly).when(fire(61, tolerance_s=30.0)).then(ScheduleFired(at=at(61), tick=at(60), reason=NoJob.MISSED))


def test_a_tick_delivered_past_the_tolerance_fires_once_under_catch_up_latest_once():
    hourly = created(cron="0 * * * *", catch_up=CatchUp.LATEST_ONCE)
    given(hourly).when(fire(70)).then(fired(70, tick=60))
    given(hourly).when(fire(190)).then(fired(190, tick=180, missed=2))


def test_a_fire_a_little_ahead_of_its_tick_counts_for_it_within_the_allowed_skew():
    given(created()).when(fire(9.99, early_s=2.0)).then(fired(9.99, tick=10))
    given(created()).when(fire(9.99)).then()


def test_a_fire_on_a_clock_of_its_own_takes_its_tick_from_that_clock_and_records_ours():
    # A time-scaled test broker: its schedule clock has run to 40.1 while ours says 1.
    given(created()).when(fire(1, delivered_at=at(40.1))).then(fired(1, tick=40, missed=3))
    given(created(), fired(1, tick=40)).when(fire(1.01, delivered_at=at(40.2))).then()


@pytest.mark.parametrize(
    ("overlap", "expected"),
    [
        (Overlap.SKIP, {"job_id": None, "reason": NoJob.OVERLAP}),
        (Overlap.ALLOW, {}),
        (Overlap.CANCEL_PREVIOUS, {"cancelled_job_id": job(10)}),
    ],
)
def test_a_tick_while_the_previous_job_is_active_follows_the_overlap_policy(overlap, expected):
    history = (created(overlap=overlap), fired(10.01, tick=10))
    given(*history).when(fire(20.01, previous_job_active=True)).then(fired(20.01, tick=20, **expected))
    given(*history).when(fire(20.01, previous_job_active=False)).then(fired(20.01, tick=20))


def test_a_tick_skipped_for_overlap_is_not_fired_again():
    skipped = ScheduleFired(at=at(20.01), tick=at(20), reason=NoJob.OVERLAP)
    state = given(created(), fired(10.01, tick=10), skipped).state
    assert (state.last_tick, state.last_job_id, state.jobs_created, state.ticks_skipped) == (at(20), job(10), 1, 1)
    given(created(), fired(10.01, tick=10), skipped).when(fire(20.5)).then()


def test_a_paused_or_deleted_schedule_ignores_its_fires():
    given(created(), SchedulePaused(at=at(5))).when(fire(10.01)).then()
    given(created(), ScheduleDeleted(at=at(5))).when(fire(10.01)).then()


def test_ticks_passed_while_paused_are_not_caught_up_after_resuming():
    history = (created(), SchedulePaused(at=at(5)), ScheduleResumed(at=at(35)))
    given(*history).when(fire(35.5)).then()  # the 12:30 tick passed while paused
    given(*history).when(fire(40.01)).then(fired(40.01, tick=40))


def test_no_tick_after_the_end_date_fires():
    ending = created(end_at=at(25))
    given(ending, fired(10.01, tick=10)).when(fire(20.5)).then(fired(20.5, tick=20))
    given(ending, fired(10.01, tick=10)).when(fire(30.01)).then()
    given(ending, fired(10.01, tick=10)).when(fire(26)).then(fired(26, tick=20))  # its tick was before the end


# -- by hand ------------------------------------------------------------------------------


def test_a_trigger_creates_the_job_it_names_and_leaves_the_ticks_alone():
    history = (created(), fired(10.01, tick=10))
    given(*history).when(TriggerSchedule(at=at(12), job_id=HAND_MADE)).then(
        ScheduleTriggered(at=at(12), job_id=HAND_MADE)
    )
    state = given(*history, ScheduleTriggered(at=at(12), job_id=HAND_MADE)).state
    assert (state.last_job_id, state.jobs_created, state.last_tick, state.ticks_after) == (HAND_MADE, 2, at(10), at(10))


def test_a_paused_schedule_can_be_triggered_by_hand_a_deleted_one_cannot():
    trigger = TriggerSchedule(at=at(12), job_id=HAND_MADE)
    given(created(paused=True)).when(trigger).then(ScheduleTriggered(at=at(12), job_id=HAND_MADE))
    given(created(), ScheduleDeleted(at=at(5))).when(trigger).raises(IllegalScheduleMove, match="deleted")


def test_a_trigger_follows_the_overlap_policy_too():
    history = (created(overlap=Overlap.SKIP), fired(10.01, tick=10))
    given(*history).when(TriggerSchedule(at=at(12), job_id=HAND_MADE, previous_job_active=True)).then(
        ScheduleTriggered(at=at(12), reason=NoJob.OVERLAP)
    )


# -- pause, resume, delete ----------------------------------------------------------------


def test_pause_resume_and_delete_move_the_schedule():
    given(created()).when(PauseSchedule(at=at(1))).then(SchedulePaused(at=at(1)))
    given(created(paused=True)).when(ResumeSchedule(at=at(1))).then(ScheduleResumed(at=at(1)))
    given(created(paused=True)).when(DeleteSchedule(at=at(1))).then(ScheduleDeleted(at=at(1)))


def test_asking_again_for_the_state_a_schedule_is_in_changes_nothing():
    given(created(paused=True)).when(PauseSchedule(at=at(1))).then()
    given(created()).when(ResumeSchedule(at=at(1))).then()
    given(created(), ScheduleDeleted(at=at(1))).when(DeleteSchedule(at=at(2))).then()


@pytest.mark.parametrize(
    "command", [PauseSchedule(at=at(2)), ResumeSchedule(at=at(2)), UpdateSchedule(at=at(2), cron="* * * * *")], ids=type
)
def test_a_deleted_schedule_refuses_every_change(command):
    given(created(), ScheduleDeleted(at=at(1))).when(command).raises(IllegalScheduleMove, match="deleted")


# -- updates ------------------------------------------------------------------------------


def test_an_update_records_only_what_it_changes():
    command = UpdateSchedule(at=at(1), cron="0  * * * *", overlap=Overlap.SKIP, time_zone="UTC", max_runs=5)
    given(created()).when(command).then(ScheduleUpdated(at=at(1), cron="0 * * * *", max_runs=5))


def test_an_update_that_changes_nothing_records_nothing():
    given(created()).when(UpdateSchedule(at=at(1), cron=" */10 * * * *")).then()
    given(created()).when(UpdateSchedule(at=at(1))).then()


def test_an_update_can_clear_the_end_date():
    given(created(end_at=at(600))).when(UpdateSchedule(at=at(1), end_at=None)).then(
        ScheduleUpdated(at=at(1), end_at=None)
    )
    assert given(created(end_at=at(600)), ScheduleUpdated(at=at(1), end_at=None)).state.end_at is None


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (UpdateSchedule(at=at(1), cron="* * * *"), "cron"),
        (UpdateSchedule(at=at(1), time_zone="Nowhere/Else"), "time_zone"),
        (UpdateSchedule(at=at(1), end_at=at(0)), "end_at"),
        (UpdateSchedule(at=at(1), cron="0 0 1 1 *"), "end_at"),  # the end date it has comes before that fire
        (UpdateSchedule(at=at(1), max_runs=0), "max_runs"),
    ],
)
def test_an_update_is_checked_as_a_creation_is(command, field):
    caught = given(created(end_at=at(600))).when(command).raises(InvalidSchedule)
    assert caught.value.field == field


def test_a_new_cron_owes_nothing_for_the_ticks_of_the_old_one():
    history = (created(), ScheduleUpdated(at=at(7), cron="*/5 * * * *"))
    given(*history).when(fire(8)).then()  # 12:05 was before the change
    given(*history).when(fire(10.01)).then(fired(10.01, tick=10))


def test_the_state_folds_what_the_schedule_holds():
    state = given(
        created(params={"pages": 3}, max_runs=4, time_zone="Europe/Berlin"),
        fired(10.01, tick=10),
        ScheduleUpdated(at=at(11), params={"pages": 5}),
        SchedulePaused(at=at(12)),
    ).state
    assert state.status is ScheduleStatus.PAUSED
    assert (state.params, state.max_runs, state.time_zone, state.cron) == (
        {"pages": 5},
        4,
        "Europe/Berlin",
        "*/10 * * * *",
    )
    assert (state.version, state.created_at, state.updated_at, state.last_tick) == (4, T0, at(12), at(10))


def test_the_end_date_is_recorded_in_utc_whatever_offset_it_came_with():
    berlin_noon = at(24 * 60).astimezone(timezone(timedelta(hours=2)))
    (event,) = (
        given()
        .when(CreateSchedule(at=T0, owner="ada", kind="crawl", cron="* * * * *", end_at=berlin_noon))
        .then(created(cron="* * * * *", end_at=berlin_noon))
    )
    assert isinstance(event, ScheduleCreated) and event.end_at.tzinfo is UTC
