"""A schedule in a zone with daylight saving fires at the right local times across the
changes, once each: its fires are delivered every minute (as a broker that repeats itself
would) and each goes through the decider, which records every tick it finds."""

from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from domain.schedule.commands import FireSchedule
from domain.schedule.cron import next_fires
from domain.schedule.decider import decide, evolve
from domain.schedule.events import ScheduleCreated, ScheduleFired
from domain.schedule.state import INITIAL

SCHEDULE_ID = UUID("d57d57d5-0000-4000-8000-000000000001")


def ticks_fired(cron: str, time_zone: str, start: datetime, hours: int) -> list[str]:
    """The ticks recorded, as local times, when a fire is delivered 20 s after every minute."""
    state = evolve(INITIAL, ScheduleCreated(at=start, owner="ada", kind="crawl", cron=cron, time_zone=time_zone))
    local = []
    for minute in range(hours * 60):
        delivered_at = start + timedelta(minutes=minute, seconds=20)
        for event in decide(FireSchedule(at=delivered_at, schedule_id=SCHEDULE_ID), state):
            assert isinstance(event, ScheduleFired) and event.job_id is not None and event.missed == 0
            local.append(event.tick.astimezone(ZoneInfo(time_zone)).isoformat())
            state = evolve(state, event)
    return local


def test_a_daily_0230_in_berlin_fires_once_on_the_day_the_clocks_spring_forward_at_the_end_of_the_gap():
    # 30 March 2025: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that day.
    assert ticks_fired("30 2 * * *", "Europe/Berlin", datetime(2025, 3, 28, 23, 0, tzinfo=UTC), 72) == [
        "2025-03-29T02:30:00+01:00",
        "2025-03-30T03:00:00+02:00",
        "2025-03-31T02:30:00+02:00",
    ]


def test_a_daily_0230_in_berlin_fires_once_on_the_day_the_clocks_fall_back():
    # 26 October 2025: 03:00 CEST becomes 02:00 CET; 02:30 happens twice, an hour apart.
    assert ticks_fired("30 2 * * *", "Europe/Berlin", datetime(2025, 10, 24, 23, 0, tzinfo=UTC), 72) == [
        "2025-10-25T02:30:00+02:00",
        "2025-10-26T02:30:00+02:00",
        "2025-10-27T02:30:00+01:00",
    ]


def test_a_daily_0130_in_new_york_fires_once_on_the_day_the_clocks_fall_back():
    # 2 November 2025: 02:00 EDT becomes 01:00 EST; 01:30 happens twice.
    assert ticks_fired("30 1 * * *", "America/New_York", datetime(2025, 11, 1, 4, 0, tzinfo=UTC), 72) == [
        "2025-11-01T01:30:00-04:00",
        "2025-11-02T01:30:00-04:00",
        "2025-11-03T01:30:00-05:00",
    ]


def test_a_half_hourly_schedule_keeps_its_pace_in_real_time_through_the_repeated_hour():
    assert ticks_fired("*/30 * * * *", "Europe/Berlin", datetime(2025, 10, 25, 23, 50, tzinfo=UTC), 3) == [
        "2025-10-26T02:00:00+02:00",
        "2025-10-26T02:30:00+02:00",
        "2025-10-26T02:00:00+01:00",
        "2025-10-26T02:30:00+01:00",
        "2025-10-26T03:00:00+01:00",
        "2025-10-26T03:30:00+01:00",
    ]


def test_a_half_hourly_schedule_keeps_its_pace_in_real_time_through_the_skipped_hour():
    assert ticks_fired("*/30 * * * *", "Europe/Berlin", datetime(2025, 3, 29, 23, 50, tzinfo=UTC), 3) == [
        "2025-03-30T01:00:00+01:00",
        "2025-03-30T01:30:00+01:00",
        "2025-03-30T03:00:00+02:00",
        "2025-03-30T03:30:00+02:00",
        "2025-03-30T04:00:00+02:00",
        "2025-03-30T04:30:00+02:00",
    ]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (datetime(2025, 3, 28, 12, 0, tzinfo=UTC), ["01:30", "01:00", "00:30"]),  # spring: 02:30, 03:00, 02:30 local
        (datetime(2025, 10, 25, 12, 0, tzinfo=UTC), ["00:30", "01:30", "01:30"]),  # autumn: 02:30 each day, once
    ],
)
def test_next_fires_show_the_change_in_utc(after, expected):
    fires = next_fires("30 2 * * *", "Europe/Berlin", after, 3)
    assert [fire.utc.strftime("%H:%M") for fire in fires] == expected
