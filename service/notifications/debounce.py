"""When a health verdict is announced: once it differs from the last one announced and has
held, unchanged, for the hold time. Pure: the caller brings the clock and the record."""

from datetime import datetime, timedelta

import msgspec


class AlertRecord(msgspec.Struct, frozen=True, kw_only=True):
    announced: str  # the verdict operators were last told
    candidate: str | None = None  # a different verdict seen since, waiting out the hold
    candidate_since: datetime | None = None


def step(record: AlertRecord, verdict: str, now: datetime, hold_s: float) -> tuple[AlertRecord, bool]:
    """The record after seeing `verdict` at `now`, and whether to announce it now.

    A verdict back to the announced one drops the candidate; a new candidate starts its
    hold afresh, so a figure flapping faster than the hold is never announced.
    """
    if verdict == record.announced:
        return AlertRecord(announced=record.announced), False
    if verdict != record.candidate or record.candidate_since is None:
        if hold_s <= 0:
            return AlertRecord(announced=verdict), True
        return AlertRecord(announced=record.announced, candidate=verdict, candidate_since=now), False
    if now - record.candidate_since >= timedelta(seconds=hold_s):
        return AlertRecord(announced=verdict), True
    return record, False
