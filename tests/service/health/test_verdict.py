"""The health verdict: the worst rule that fires wins, and every rule that fires says why."""

from datetime import UTC, datetime

import pytest

from service.health.stats import Backlog, Finished, Lag, Stuck
from service.health.verdict import (
    DEGRADED_LAG_S,
    DEGRADED_OUTBOX_AGE_S,
    MIN_FINISHED_FOR_RATE,
    UNHEALTHY_FAILURE_RATE,
    UNHEALTHY_LAG_S,
    UNHEALTHY_OUTBOX_AGE_S,
    judge,
)
from service.qstash.broker_status import BrokerHealth
from service.qstash.self_probe import ProbeHealth

QUIET = (
    Finished(total=0, failed=0, failure_rate=None, durations_by_kind={}),
    Stuck(count=0, job_ids=[]),
    Backlog(unsent=0, oldest_age_s=0.0),
    Lag(events=0, seconds=0.0),
)


def finished(total: int, failed: int) -> Finished:
    return Finished(total=total, failed=failed, failure_rate=failed / total, durations_by_kind={})


def test_a_quiet_service_is_healthy_with_no_reasons() -> None:
    assert judge(*QUIET) == ("healthy", [])


@pytest.mark.parametrize(
    ("total", "failed", "verdict"),
    [(20, 1, "healthy"), (20, 2, "degraded"), (20, 9, "degraded"), (20, 10, "unhealthy"), (20, 20, "unhealthy")],
)
def test_the_failure_rate_degrades_from_ten_percent_and_is_unhealthy_from_half(
    total: int, failed: int, verdict: str
) -> None:
    assert judge(finished(total, failed), *QUIET[1:])[0] == verdict


def test_too_few_finished_jobs_say_nothing_about_the_failure_rate() -> None:
    few = finished(MIN_FINISHED_FOR_RATE - 1, MIN_FINISHED_FOR_RATE - 1)

    assert judge(few, *QUIET[1:]) == ("healthy", [])


def test_an_outbox_the_relay_does_not_drain_degrades_then_makes_the_service_unhealthy() -> None:
    def verdict(age: float) -> str:
        return judge(QUIET[0], QUIET[1], Backlog(unsent=3, oldest_age_s=age), QUIET[3])[0]

    assert [verdict(DEGRADED_OUTBOX_AGE_S - 1), verdict(DEGRADED_OUTBOX_AGE_S), verdict(UNHEALTHY_OUTBOX_AGE_S)] == [
        "healthy",
        "degraded",
        "unhealthy",
    ]


def test_a_projection_that_falls_behind_degrades_then_makes_the_service_unhealthy() -> None:
    def verdict(seconds: float) -> str:
        return judge(*QUIET[:3], Lag(events=40, seconds=seconds))[0]

    assert [verdict(DEGRADED_LAG_S - 1), verdict(DEGRADED_LAG_S), verdict(UNHEALTHY_LAG_S)] == [
        "healthy",
        "degraded",
        "unhealthy",
    ]


def test_the_worst_finding_wins_and_every_finding_is_a_reason() -> None:
    verdict, reasons = judge(
        finished(10, int(10 * UNHEALTHY_FAILURE_RATE)),
        Stuck(count=2, job_ids=[]),
        Backlog(unsent=1, oldest_age_s=DEGRADED_OUTBOX_AGE_S),
        Lag(events=7, seconds=DEGRADED_LAG_S),
    )

    assert verdict == "unhealthy"
    assert reasons == [
        "5 of 10 finished jobs failed (50%)",
        "2 job(s) stuck in processing",
        "the oldest unsent outbox message is 60 s old",
        "the stats projection is 30 s (7 events) behind",
    ]


def test_qstash_not_answering_degrades_and_says_since_when_and_why() -> None:
    since = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    down = BrokerHealth(state="down", since=since, error="ConnectError")

    assert judge(*QUIET, BrokerHealth(state="up", since=since)) == ("healthy", [])
    assert judge(*QUIET, down) == (
        "degraded",
        ["broker down: QStash has not answered since 2025-01-02T03:04:05+00:00 (ConnectError)"],
    )


def test_deliveries_that_do_not_reach_the_service_make_it_unhealthy_and_say_why() -> None:
    since = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    reason = "deliveries sent to http://127.0.0.1:8000 do not reach this service: …"

    for state in ("checking", "ok"):
        assert judge(*QUIET, None, ProbeHealth(state=state, since=since)) == ("healthy", [])
    assert judge(*QUIET, None, ProbeHealth(state="failed", since=since, reason=reason)) == ("unhealthy", [reason])
