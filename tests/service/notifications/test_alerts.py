"""Verdict alerts: one per change that holds, from any number of processes, never for a flap."""

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from service.notifications.alerts import check
from service.settings import Settings

pytestmark = pytest.mark.anyio

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
START = datetime(2026, 1, 1, tzinfo=UTC)


def alerting(hold_s: float) -> Settings:
    return Settings(alert_url="https://alerts.example.com/hook", alert_secret=SECRET, alert_hold_s=hold_s)


async def announced(database_url: str) -> list[tuple[str, str]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        rows = await (
            await conn.execute("SELECT body->>'verdict', body->>'previous' FROM notifications ORDER BY id")
        ).fetchall()
    return [(row[0], row[1]) for row in rows]


async def test_a_flapping_figure_is_announced_once_per_change_that_holds_across_processes(pool, database_url):
    settings = alerting(hold_s=60)
    # Two processes see the same figures every 10 s: it flaps between healthy and degraded
    # for a minute and a half, then stays degraded, then recovers for good.
    seen = ["degraded", "healthy"] * 5 + ["degraded"] * 8 + ["healthy"] * 8
    for tick, verdict in enumerate(seen):
        now = START + timedelta(seconds=10 * tick)
        await asyncio.gather(
            check(pool, settings, verdict, ["a reason"], now), check(pool, settings, verdict, ["a reason"], now)
        )
    assert await announced(database_url) == [("degraded", "healthy"), ("healthy", "degraded")]


async def test_without_a_hold_every_change_is_announced_at_once_but_only_once(pool, database_url):
    settings = alerting(hold_s=0)
    for tick, verdict in enumerate(["healthy", "unhealthy", "unhealthy", "degraded"]):
        results = await asyncio.gather(
            *(check(pool, settings, verdict, [], START + timedelta(seconds=tick)) for _ in range(3))
        )
        assert sum(results) == (0 if tick in (0, 2) else 1)
    assert await announced(database_url) == [("unhealthy", "healthy"), ("degraded", "unhealthy")]
