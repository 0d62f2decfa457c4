"""The tick a fire is for: derived from the cron and the time of delivery, the same for every
copy of a fire, and each tick accounted for once whatever order and number the copies come in."""

from datetime import UTC, datetime, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.schedule.cron import fires_after, previous_fire
from domain.schedule.policies import CatchUp
from domain.schedule.ticks import MISSED_COUNT_CAP, Verdict, count_fires, tick_for
from tests.domain.schedule.test_cron import _valid, cases

TOLERANCE = timedelta(minutes=5)
policies = st.sampled_from(CatchUp)
offsets = st.integers(0, 3 * 86400).map(lambda seconds: timedelta(seconds=seconds))


@settings(max_examples=300, deadline=None)
@given(cases, offsets, offsets, policies)
def test_a_tick_is_a_cron_time_at_or_before_the_delivery_and_after_what_is_accounted_for(case, back, skew, catch_up):
    cron, name, delivered_at = case
    assume(_valid(cron))
    after = delivered_at - back
    early = skew % timedelta(seconds=30)
    found = tick_for(cron, name, delivered_at, after, catch_up, TOLERANCE, early)
    assert found.tick == previous_fire(cron, name, delivered_at + early)
    assert found.tick <= delivered_at + early
    if found.verdict is Verdict.DUPLICATE:
        assert found.tick <= after and found.missed == 0
    else:
        assert found.tick > after
        assert found.missed == count_fires(cron, name, after, found.tick)
        late = delivered_at - found.tick > TOLERANCE
        assert (found.verdict is Verdict.MISSED) == (late and catch_up is CatchUp.SKIP)


@settings(max_examples=200, deadline=None)
@given(cases, offsets, policies)
def test_every_copy_of_a_fire_delivered_before_the_next_tick_finds_the_tick_already_accounted_for(case, back, catch_up):
    cron, name, delivered_at = case
    assume(_valid(cron))
    tick = previous_fire(cron, name, delivered_at)
    after = tick - back - timedelta(microseconds=1)
    first = tick_for(cron, name, delivered_at, after, catch_up, TOLERANCE)
    assert first.tick == tick and first.verdict is not Verdict.DUPLICATE
    assert tick_for(cron, name, delivered_at, after, catch_up, TOLERANCE) == first, "the same delivery, the same tick"
    following = next(fires_after(cron, name, tick))
    for copy_at in (tick, delivered_at, following - timedelta(microseconds=1)):
        repeat = tick_for(cron, name, copy_at, tick, catch_up, TOLERANCE)
        assert (repeat.tick, repeat.verdict) == (tick, Verdict.DUPLICATE)


@settings(max_examples=150, deadline=None)
@given(cases, st.lists(st.integers(0, 6 * 3600), min_size=1, max_size=30), policies)
def test_deliveries_in_any_order_and_number_account_for_each_tick_once(case, seconds, catch_up):
    """As QStash may deliver: duplicated, late and shuffled. Each delivery that finds a new tick
    records it (moving `after` on to it); none records a tick twice or one out of order."""
    cron, name, start = case
    assume(_valid(cron))
    after, recorded = start, []
    for delivered_at in (start + timedelta(seconds=s) for s in seconds):
        found = tick_for(cron, name, delivered_at, after, catch_up, TOLERANCE)
        if found.verdict is not Verdict.DUPLICATE:
            recorded.append(found.tick)
            after = found.tick
    assert recorded == sorted(set(recorded))
    latest = previous_fire(cron, name, start + timedelta(seconds=max(seconds)))
    assert not recorded or recorded[-1] == latest or latest <= start


def test_missed_ticks_are_counted_up_to_the_cap():
    start = datetime(2025, 1, 1, tzinfo=UTC)
    assert count_fires("* * * * *", "UTC", start, start + timedelta(minutes=10)) == 9
    month = start + timedelta(days=31)
    assert count_fires("* * * * *", "UTC", start, month) == MISSED_COUNT_CAP
    found = tick_for("* * * * *", "UTC", month, start, CatchUp.SKIP, TOLERANCE)
    assert (found.tick, found.verdict, found.missed) == (month, Verdict.FIRE, MISSED_COUNT_CAP)
