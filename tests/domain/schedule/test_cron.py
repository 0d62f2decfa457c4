"""Cron expressions: refused with the field named, described in words, and iterated the same
way forwards and backwards in any zone, across daylight-saving changes too."""

from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.schedule.cron import (
    InvalidCron,
    UnknownTimeZone,
    check_cron,
    describe,
    fires_after,
    next_fires,
    previous_fire,
    zone,
)

# Zones with a DST change of an hour either way, of 30 minutes (Lord Howe), of two hours
# (Troll), in the southern hemisphere, none at all, and a 45-minute offset (Chatham).
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Antarctica/Troll",
    "America/Santiago",
    "Asia/Kolkata",
    "Pacific/Chatham",
]


def _changes(name: str, year: int = 2025) -> list[datetime]:
    """The moments (UTC) in `year` when the zone's offset changes, found hour by hour."""
    local, moments = ZoneInfo(name), []
    moment = datetime(year, 1, 1, tzinfo=UTC)
    while moment.year == year:
        after = moment + timedelta(hours=1)
        if moment.astimezone(local).utcoffset() != after.astimezone(local).utcoffset():
            moments.append(after)
        moment = after
    return moments


CHANGES = {name: _changes(name) for name in ZONES}


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    return st.one_of(
        st.just("*"),
        number.map(str),
        st.integers(2, 20).map(lambda step: f"*/{step}"),
        st.lists(number, min_size=2, max_size=3, unique=True).map(lambda values: ",".join(map(str, sorted(values)))),
        st.tuples(number, number).map(lambda pair: f"{min(pair)}-{max(pair)}"),
    )


crons = st.tuples(
    _field(0, 59), _field(0, 23), st.one_of(st.just("*"), _field(1, 28)), _field(1, 12), _field(0, 6)
).map(" ".join)


@st.composite
def moments(draw: st.DrawFn, name: str) -> datetime:
    """Half the time within three hours of one of the zone's offset changes, where iteration is hardest."""
    near_a_change = draw(st.booleans())
    if CHANGES[name] and near_a_change:
        change = draw(st.sampled_from(CHANGES[name]))
        return change + timedelta(seconds=draw(st.integers(-3 * 3600, 3 * 3600)))
    return draw(st.datetimes(datetime(2024, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC)))


cases = st.sampled_from(ZONES).flatmap(lambda name: st.tuples(crons, st.just(name), moments(name)))


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "five fields"),
        ("0 * * * * *", "not 6"),
        ("60 * * * *", "minute '60'"),
        ("0 24 * * *", "hour '24'"),
        ("0 0 32 * *", "day-of-month '32'"),
        ("0 0 * 0 *", "month '0'"),
        ("0 0 * * 9", "day-of-week '9'"),
        ("*/0 * * * *", "minute '\\*/0'"),
        ("0 0 30 2 *", "day-of-month '30' never occurs in month '2'"),
        ("0 0 1 1 1-x", "day-of-week '1-x'"),
    ],
)
def test_a_bad_cron_is_refused_naming_the_field_and_its_text(expression, message):
    with pytest.raises(InvalidCron, match=message):
        check_cron(expression)


@pytest.mark.parametrize(
    ("expression", "normal"),
    [(" 30  2 * * *\t", "30 2 * * *"), ("0 9 * * mon-fri", "0 9 * * mon-fri"), ("0 0 L * *", "0 0 L * *")],
)
def test_a_good_cron_comes_back_with_its_whitespace_normalised(expression, normal):
    assert check_cron(expression) == normal


@pytest.mark.parametrize("name", ["Europe/Nowhere", "europe/berlin", "../../etc/passwd", "", "+01:00"])
def test_only_iana_zone_names_are_taken(name):
    with pytest.raises(UnknownTimeZone, match="IANA"):
        zone(name)


@pytest.mark.parametrize(
    ("expression", "words"),
    [("* * * * *", "Every minute"), ("30 2 * * *", "At 02:30 every day"), ("0 9 * * 1-5", "At 09:00 on Monday")],
)
def test_a_cron_is_described_in_words(expression, words):
    assert describe(expression).startswith(words)


@given(crons)
def test_every_cron_that_passes_the_check_can_be_described(expression):
    assume(_valid(expression))
    assert describe(expression)


def _valid(expression: str) -> bool:
    try:
        check_cron(expression)
    except InvalidCron:
        return False
    return True


# -- iteration ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(cases)
def test_the_previous_fire_is_a_fire_and_none_comes_between_it_and_the_moment(case):
    expression, name, moment = case
    assume(_valid(expression))
    found = previous_fire(expression, name, moment)
    assert found is not None and found <= moment
    assert next(fires_after(expression, name, found - timedelta(seconds=1))) == found, "a time it fires at"
    assert next(fires_after(expression, name, found)) > moment, "the latest one"


@settings(max_examples=300, deadline=None)
@given(cases)
def test_fires_come_strictly_after_the_moment_in_order_and_none_is_stepped_over(case):
    expression, name, moment = case
    assume(_valid(expression))
    fires = list(islice(fires_after(expression, name, moment), 4))
    assert fires == sorted(set(fires)) and fires[0] > moment
    for earlier, later in zip([moment, *fires], fires, strict=False):
        assert previous_fire(expression, name, later - timedelta(microseconds=1)) <= earlier


@given(cases, st.integers(0, 6))
def test_next_fires_are_given_in_utc_and_on_the_schedule_s_clock(case, n):
    expression, name, moment = case
    assume(_valid(expression))
    fires = next_fires(expression, name, moment, n)
    assert [fire.utc for fire in fires] == list(islice(fires_after(expression, name, moment), n))
    for fire in fires:
        # Not `local == utc`: Python never finds a time in a repeated hour equal to one on another clock.
        assert fire.utc.tzinfo is UTC and fire.local.astimezone(UTC) == fire.utc and fire.local.tzinfo == ZoneInfo(name)


def test_naive_times_are_refused_rather_than_read_on_some_clock():
    with pytest.raises(ValueError, match="timezone-aware"):
        previous_fire("* * * * *", "UTC", datetime(2025, 1, 1))


def test_a_two_hourly_cron_in_chatham_finds_its_previous_fire_at_the_autumn_change():
    # cronsim stepping through the zone itself loops for ever here (a 45-minute offset's change).
    at = datetime(2025, 4, 5, 14, 0, tzinfo=UTC)  # 03:45 +13:45, the instant clocks go back to 02:45
    assert previous_fire("0 */2 * * *", "Pacific/Chatham", at) == datetime(2025, 4, 5, 12, 15, tzinfo=UTC)


def test_a_cron_in_lord_howe_fires_every_minute_of_its_hour_on_the_day_of_its_half_hour_change():
    # 7 April 2024, 02:00 LHDT (+11) becomes 01:30 LHST (+10:30), so 02:00 comes once, at 15:30 UTC.
    # cronsim stepping through the zone itself goes from 01:30 straight to 02:30 here.
    fires = list(islice(fires_after("* 2 * * 0", "Australia/Lord_Howe", datetime(2024, 4, 1, tzinfo=UTC)), 61))
    two_o_clock = datetime(2024, 4, 6, 15, 30, tzinfo=UTC)
    assert fires == [two_o_clock + timedelta(minutes=n) for n in range(60)] + [
        datetime(2024, 4, 13, 15, 30, tzinfo=UTC)
    ]
