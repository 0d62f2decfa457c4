"""Retention policy: how long a finished job is kept before its history is archived.

A period is counted from the job's finish. `error` and `timeout` jobs can still be
requeued, so they may have a period of their own (usually longer); without one they
follow the normal period. A kind's period wins over the global one; no period at all
keeps the job for ever. Active jobs never expire, whatever their age.
"""

from datetime import datetime, timedelta

import msgspec

from domain.kinds import KindConfig
from domain.lifecycle import ACTIVE, Status

# Endings an operator can still undo with a requeue.
FAILED: frozenset[Status] = frozenset({Status.ERROR, Status.TIMEOUT})


class Periods(msgspec.Struct, frozen=True):
    """Seconds to keep a finished job after a normal ending, and after a failed one (None:
    as a normal one); both None: for ever."""

    retain_s: float | None
    retain_failed_s: float | None

    @property
    def keeps_everything(self) -> bool:
        return self.retain_s is None and self.retain_failed_s is None


def kind_periods(config: KindConfig | None, default: Periods) -> Periods:
    """A kind's periods: each one it sets wins over the global one (`default`)."""
    if config is None:
        return default
    return Periods(
        config.retain_s if config.retain_s is not None else default.retain_s,
        config.retain_failed_s if config.retain_failed_s is not None else default.retain_failed_s,
    )


def period_for(status: Status | str | None, periods: Periods) -> float | None:
    """Seconds a job that ended in `status` is kept; None for ever (and for any active job)."""
    if status is None or status in ACTIVE:
        return None
    if status in FAILED:
        return periods.retain_failed_s if periods.retain_failed_s is not None else periods.retain_s
    return periods.retain_s


def expires_at(status: Status | str | None, finished_at: datetime | None, periods: Periods) -> datetime | None:
    """When the job may be archived; None when it never may (active, unfinished, kept for ever)."""
    seconds = period_for(status, periods)
    if seconds is None or finished_at is None:
        return None
    return finished_at + timedelta(seconds=seconds)


def is_expired(status: Status | str | None, finished_at: datetime | None, periods: Periods, now: datetime) -> bool:
    expiry = expires_at(status, finished_at, periods)
    return expiry is not None and now >= expiry
