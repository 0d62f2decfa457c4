"""Five-field cron expressions in an IANA time zone: cronsim reads and steps the wall clock,
this module maps its wall-clock times onto instants.

The mapping follows Debian cron, as cronsim documents: an expression with a fixed minute
and hour fires once a day whatever the clocks do (a time the spring change skips fires at
the end of the gap, a time the autumn change repeats fires at its first pass), while one
with a wildcard minute or hour keeps its pace in real time (it fires in both passes of a
repeated hour and not at all in a skipped one). cronsim is handed naive wall-clock times
only: its own stepping through a zone skips fires around a 30-minute change (Lord Howe)
and can loop for ever around a 45-minute offset's change (Chatham). Every time these
functions return is in UTC.
"""

import heapq
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
_ANY_MOMENT = datetime(2000, 1, 1)  # parsing needs a start; any will do
# Offsets are sampled this far either side of a moment: DST changes are months apart, and
# no offset changes by as much.
_SPAN = timedelta(hours=26)


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


def _fixed_time(expression: str) -> bool:
    """Debian's (and cronsim's) test for a job that runs at specific times of day."""
    minute, hour = expression.split()[:2]
    return not minute.startswith("*") and not hour.startswith("*")


def _instants(wall: datetime, local: ZoneInfo, fixed: bool) -> list[datetime]:
    """The instants (UTC, ascending) a wall-clock time on `local` fires at: one, none (a
    wildcard's time in a skipped hour) or two (a wildcard's time in a repeated hour)."""
    first = wall.replace(tzinfo=local, fold=0).astimezone(UTC)
    if first.astimezone(local).replace(tzinfo=None) != wall:  # skipped by a spring change
        if not fixed:
            return []
        while first.astimezone(local).replace(tzinfo=None) != wall:  # on to the end of the gap
            wall += timedelta(minutes=1)
            first = wall.replace(tzinfo=local, fold=0).astimezone(UTC)
        return [first]
    second = wall.replace(tzinfo=local, fold=1).astimezone(UTC)
    return [first, second] if second != first and not fixed else [first]


def _offsets(moment: datetime, local: ZoneInfo) -> tuple[timedelta, timedelta]:
    """The least and greatest offset of `local` around `moment`."""
    found = [(moment + step).astimezone(local).utcoffset() for step in (-_SPAN, timedelta(0), _SPAN)]
    offsets = [offset for offset in found if offset is not None]
    return min(offsets), max(offsets)


def fires_after(expression: str, time_zone: str, after: datetime) -> Iterator[datetime]:
    """Every time the expression fires strictly after `after`, in order, in UTC."""
    after, local, fixed = _aware(after), zone(time_zone), _fixed_time(expression)
    # No wall-clock time before `after` read at the zone's least offset fires after `after`.
    start = (after + _offsets(after, local)[0]).replace(tzinfo=None)
    pending: list[datetime] = []  # the second passes of a repeated hour come after later wall times
    last = after
    for wall in CronSim(expression, start):
        instants = _instants(wall, local, fixed)
        if not instants:
            continue
        for instant in instants:
            heapq.heappush(pending, instant)
        while pending and pending[0] <= instants[0]:  # no later wall time fires before instants[0]
            instant = heapq.heappop(pending)
            if instant > last:
                last = instant
                yield instant
    for instant in sorted(pending):  # the fifty years cronsim looks ahead are over
        if instant > last:
            last = instant
            yield instant


def previous_fire(expression: str, time_zone: str, at: datetime) -> datetime | None:
    """The latest time the expression fires at or before `at`, in UTC; None if none in 50 years."""
    at, local, fixed = _aware(at), zone(time_zone), _fixed_time(expression)
    least, greatest = _offsets(at, local)
    # No wall-clock time after `at` read at the zone's greatest offset fires at or before `at`;
    # reverse iteration yields times strictly before its start, at whole seconds.
    start = (at + greatest).replace(tzinfo=None, microsecond=0) + timedelta(seconds=1)
    found: datetime | None = None
    for wall in CronSim(expression, start, reverse=True):
        instants = _instants(wall, local, fixed)
        if instants and found is not None and instants[0] + (greatest - least) <= found:
            break  # earlier wall times fire earlier still, a repeated hour's second pass included
        earlier = [instant for instant in instants if instant <= at]
        if earlier and (found is None or earlier[-1] > found):
            found = earlier[-1]
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
