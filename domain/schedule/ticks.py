"""Which tick a fire is for, derived from the cron and the time of its delivery.

QStash sends no tick: a schedule's delivery says only when it arrived. Its tick is the
latest cron time at or before that moment, so a delivery late by less than one period
still finds its own tick, and every copy of it (duplicated, retried, shuffled) finds the
same one, which the stream has already recorded. Ticks that passed unfired between the
last one accounted for and this one are missed: none gets a job of its own.
"""

from datetime import datetime, timedelta
from enum import StrEnum

import msgspec

from domain.schedule.cron import fires_after, previous_fire
from domain.schedule.policies import CatchUp

# Counting the ticks missed over a long outage walks every one of them; past this many
# (a week of a schedule that fires every minute) the count stops, at ~60 ms.
MISSED_COUNT_CAP = 10_000


class Verdict(StrEnum):
    FIRE = "fire"  # a new tick: it may create a job (the overlap policy has the last word)
    MISSED = "missed"  # a new tick delivered later than the tolerance, under CatchUp.SKIP: no job
    DUPLICATE = "duplicate"  # no new tick: a copy of one accounted for, or a fire before the first


class TickFound(msgspec.Struct, frozen=True, kw_only=True):
    tick: datetime | None  # the cron time the delivery is for, in UTC; None if the cron has none before it
    verdict: Verdict
    missed: int = 0  # ticks after the last accounted for and before `tick` (at most MISSED_COUNT_CAP)


def tick_for(
    cron: str,
    time_zone: str,
    delivered_at: datetime,
    after: datetime,
    catch_up: CatchUp,
    tolerance: timedelta,
    early: timedelta = timedelta(0),
) -> TickFound:
    """The tick a fire delivered at `delivered_at` is for, and what becomes of it.

    `after` is the moment up to which ticks are accounted for: the last tick recorded, or
    when the schedule was created, resumed or given a new cron, whichever is latest.
    `tolerance` is how late a delivery may come and still be on time; `early`, how far
    ahead of our clock the sender's may run (a fire that arrives before its tick).
    """
    tick = previous_fire(cron, time_zone, delivered_at + early)
    if tick is None or tick <= after:
        return TickFound(tick=tick, verdict=Verdict.DUPLICATE)
    missed = count_fires(cron, time_zone, after, tick)
    late = delivered_at - tick > tolerance
    verdict = Verdict.MISSED if late and catch_up is CatchUp.SKIP else Verdict.FIRE
    return TickFound(tick=tick, verdict=verdict, missed=missed)


def count_fires(cron: str, time_zone: str, after: datetime, before: datetime, cap: int = MISSED_COUNT_CAP) -> int:
    """How many times the cron fires strictly between `after` and `before`, up to `cap`."""
    count = 0
    for moment in fires_after(cron, time_zone, after):
        if moment >= before or count == cap:
            break
        count += 1
    return count
