"""An outage is told once: a line when it begins, a line when it ends."""

import logging

import psycopg
import pytest

from service.store.outage import Outage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "jobtrail.database"]


def test_many_failures_in_one_outage_are_one_line_and_its_end_another(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = Outage(quiet_s=30, clock=clock)
    with caplog.at_level(logging.INFO, logger="jobtrail.database"):
        for _ in range(50):
            outage.failed("GET /v1/jobs", psycopg.OperationalError("connection refused"))
            clock.now += 1
        outage.recovered()
        outage.recovered()  # nothing more to tell
    assert lines(caplog) == [
        "the database is unavailable (OperationalError, met by GET /v1/jobs); requests answer 503 until it is back",
        "the database is back after 50.0 s (50 failed requests and rounds meanwhile)",
    ]


def test_failures_further_apart_than_the_quiet_spell_are_two_outages(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = Outage(quiet_s=30, clock=clock)
    with caplog.at_level(logging.INFO, logger="jobtrail.database"):
        outage.failed("the relay", psycopg.OperationalError("gone"))
        clock.now += 31
        outage.failed("the relay", psycopg.OperationalError("gone"))
    assert len(lines(caplog)) == 2
