"""Five-field cron expressions in an IANA time zone, parsed and iterated by cronsim.

cronsim follows Debian cron across daylight-saving changes: an expression with a fixed
minute and hour fires once a day whatever the clocks do (a time skipped by the spring
change fires at the end of the gap, a time repeated in autumn fires at its first
occurrence), while one with a wildcard minute or hour keeps its pace in real time.
cronsim iterates wall-clock times, so from inside a repeated hour it can hand back a time
on the wrong side of the one asked about, or step over one; the functions here correct
both. Every time they return is in UTC.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

import msgspec
from cronsim import CronSim, CronSimError

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_ALLOWED = {
    "minute": "0-59",
    "hour": "0-23",
    "day-of-month": "1-31, L or LW",
    "month": "1-12 or JAN-DEC",
    "day-of-week": "0-7 or SUN-SAT, 5L or MON#1",
}
_ANY_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)  # parsing needs a start; any will do


class InvalidCron(ValueError):
    """A cron expression that cannot be used; the message names the field at fault."""


class UnknownTimeZone(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown time zone {name!r}: expected an IANA name such as 'Europe/Berlin' or 'UTC'")


class Fire(msgspec.Struct, frozen=True, kw_only=True):
    """A moment a schedule fires, in UTC and on the schedule's own clock."""

    utc: datetime
    local: datetime


def check_cron(expression: str) -> str:
    """The expression with its whitespace normalised; InvalidCron names what is wrong."""
    fields = expression.split()
    if len(fields) != len(FIELDS):
        raise InvalidCron(
            f"a cron expression has five fields (minute hour day-of-month month day-of-week), "
            f"not {len(fields)}: {expression!r}"
        )
    normal = " ".join(fields)
    try:
        parsed = CronSim(normal, _ANY_MOMENT)
    except CronSimError as error:
        raise InvalidCron(_explained(fields, str(error))) from None
    if next(parsed, None) is None:
        raise InvalidCron(f"the cron expression {normal!r} never fires")
    return normal


def _explained(fields: list[str], message: str) -> str:
    """cronsim says "Bad <field>"; name the text too, and what that field allows."""
    name = message.removeprefix("Bad ").strip()
    if name not in FIELDS:
        return f"invalid cron expression {' '.join(fields)!r}: {message}"
    text = fields[FIELDS.index(name)]
    if name == "day-of-month" and _plain_days(text):  # parsed, so refused as a date no month holds
        return f"the cron day-of-month {text!r} never occurs in month {fields[3]!r}"
    return f"invalid cron {name} {text!r}: allowed are {_ALLOWED[name]}, with * , - and /"


def _plain_days(text: str) -> bool:
    return all(part.isdigit() and 1 <= int(part) <= 31 for part in text.replace("-", ",").split(","))


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo:
    """The IANA time zone of this name; UnknownTimeZone for anything else (a path, a typo)."""
    if name not in _zones():
        raise UnknownTimeZone(name)
    return ZoneInfo(name)


def describe(expression: str) -> str:
    """The expression in words, for people: "At 02:30 every day"."""
    return CronSim(expression, _ANY_MOMENT).explain()


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("cron times are computed from timezone-aware datetimes only")
    return moment.astimezone(UTC)


def fires_after(expression: str, time_zone: str, after: datetime) -> Iterator[datetime]:
    """Every time the expression fires strictly after `after`, in order, in UTC."""
    after = _aware(after)
    for found in CronSim(expression, after.astimezone(zone(time_zone))):
        moment = found.astimezone(UTC)
        if moment > after:  # a wall-clock step back across a repeated hour can land before `after`
            yield moment


def previous_fire(expression: str, time_zone: str, at: datetime) -> datetime | None:
    """The latest time the expression fires at or before `at`, in UTC; None if none in 50 years."""
    at = _aware(at)
    # Reverse iteration yields times strictly before its start, at whole seconds. From inside
    # a repeated hour it reads the wall clock alone and can step over a fire that happened
    # between the two readings of the same time, so the forward loop below picks it back up.
    start = at.replace(microsecond=0) + timedelta(seconds=1)
    found = None
    for moment in CronSim(expression, start.astimezone(zone(time_zone)), reverse=True):
        if moment.astimezone(UTC) <= at:
            found = moment.astimezone(UTC)
            break
    if found is None:
        return None
    for moment in fires_after(expression, time_zone, found):
        if moment > at:
            break
        found = moment
    return found


def next_fires(expression: str, time_zone: str, after: datetime, n: int) -> list[Fire]:
    """The next `n` fires strictly after `after`, each in UTC and in the schedule's zone."""
    local = zone(time_zone)
    fires: list[Fire] = []
    for moment in fires_after(expression, time_zone, after):
        if len(fires) == n:
            break
        fires.append(Fire(utc=moment, local=moment.astimezone(local)))
    return fires
