"""Retention policy: active jobs and jobs inside their period are never taken."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.kinds import KindConfig
from domain.lifecycle import ACTIVE, Status
from domain.retention import FAILED, Periods, expires_at, is_expired, kind_periods, period_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)
periods_s = st.none() | st.floats(min_value=1, max_value=10 * 365 * 86400)
any_periods = st.builds(Periods, periods_s, periods_s)
statuses = st.sampled_from(list(Status)) | st.none()
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@given(status=st.sampled_from(sorted(ACTIVE)), finished=st.none() | instants, periods=any_periods, now=instants)
def test_an_active_job_never_expires_whatever_its_age_or_the_policy(status, finished, periods, now):
    assert not is_expired(status, finished, periods, now)
    assert expires_at(status, finished, periods) is None


@given(status=statuses, finished=instants, periods=any_periods, elapsed_s=st.floats(0, 20 * 365 * 86400))
def test_a_job_is_expired_exactly_when_its_period_has_passed_since_it_finished(status, finished, periods, elapsed_s):
    now = finished + timedelta(seconds=elapsed_s)
    period = period_for(status, periods)
    expired = is_expired(status, finished, periods, now)
    if period is None:
        assert not expired  # kept for ever (or active)
    elif now < finished + timedelta(seconds=period):
        assert not expired  # inside its period
    else:
        assert expired


@given(status=st.sampled_from(sorted(FAILED)), normal=periods_s, failed=periods_s)
def test_a_failed_ending_uses_its_own_period_else_the_normal_one(status, normal, failed):
    assert period_for(status, Periods(normal, failed)) == (failed if failed is not None else normal)


@given(normal=periods_s, failed=periods_s)
def test_completed_and_cancelled_jobs_use_the_normal_period(normal, failed):
    for status in (Status.COMPLETED, Status.CANCELLED):
        assert period_for(status, Periods(normal, failed)) == normal


@given(kind=st.tuples(periods_s, periods_s), default=any_periods)
def test_a_kinds_period_wins_and_what_it_leaves_unset_is_the_global_one(kind, default):
    config = KindConfig(retain_s=kind[0], retain_failed_s=kind[1])
    merged = kind_periods(config, default)
    assert merged.retain_s == (kind[0] if kind[0] is not None else default.retain_s)
    assert merged.retain_failed_s == (kind[1] if kind[1] is not None else default.retain_failed_s)


def test_unset_everywhere_keeps_every_job():
    assert kind_periods(KindConfig(), Periods(None, None)).keeps_everything
    assert not is_expired(Status.COMPLETED, T0, Periods(None, None), T0 + timedelta(days=36500))


def test_an_unfinished_job_has_no_expiry():
    assert expires_at(Status.COMPLETED, None, Periods(1.0, 1.0)) is None
