"""What a schedule's state tells its readers: its next fires, whether it has ended, and the
job a tick creates under its kind's limits."""

from datetime import timedelta

import pytest

from domain.errors import InvalidCommand
from domain.kinds import KindConfig
from domain.schedule.events import SchedulePaused, ScheduleResumed
from domain.schedule.jobs import job_command
from domain.schedule.state import has_ended, upcoming
from tests.domain.schedule.given import T0, at, created, given


def test_the_next_fires_of_an_active_schedule_come_after_the_moment_asked_about():
    fires = upcoming(given(created()).state, at(5), 3)
    assert [fire.utc for fire in fires] == [at(10), at(20), at(30)]


def test_the_next_fires_are_shown_on_the_schedule_s_clock_too():
    (fire,) = upcoming(given(created(cron="0 9 * * *", time_zone="America/New_York")).state, T0, 1)
    assert (fire.local.hour, fire.utc) == (9, T0 + timedelta(hours=2))  # 09:00 EST is 14:00 UTC


def test_a_paused_schedule_has_no_next_fires_and_a_resumed_one_has_them_again():
    assert upcoming(given(created(), SchedulePaused(at=at(1))).state, at(2)) == []
    resumed = given(created(), SchedulePaused(at=at(1)), ScheduleResumed(at=at(2))).state
    assert len(upcoming(resumed, at(2))) == 5


def test_no_fire_is_shown_past_the_end_date():
    state = given(created(end_at=at(25))).state
    assert [fire.utc for fire in upcoming(state, at(0))] == [at(10), at(20)]
    assert not has_ended(state, at(25)) and has_ended(state, at(25.01))
    assert not has_ended(given(created()).state, at(10**6))


def test_a_tick_s_job_carries_the_schedule_s_kind_params_and_limits_under_the_kind_s():
    state = given(created(params={"pages": 3}, max_runs=4, target_results=50, deadline_s=60.0)).state
    command = job_command(state, KindConfig(max_runs=10), at(10))
    assert (command.owner, command.kind, command.params) == ("ada", "crawl", {"pages": 3})
    assert (command.max_runs, command.target_results, command.deadline, command.at) == (4, 50, at(11), at(10))
    defaults = job_command(given(created()).state, KindConfig(max_runs=10, deadline_s=None), at(10))
    assert (defaults.max_runs, defaults.deadline) == (10, None)


def test_a_schedule_asking_more_of_a_job_than_its_kind_allows_is_refused():
    with pytest.raises(InvalidCommand, match="max_runs 40 exceeds"):
        job_command(given(created(max_runs=40)).state, KindConfig(max_runs=10), at(10))
