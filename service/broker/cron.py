"""Five-field cron expressions at minute resolution, in UTC.

Supported per field: `*`, numbers, lists `1,5`, ranges `1-5`, steps `*/15` and `1-30/5`.
Day-of-month and day-of-week combine with OR when both are restricted, as in Vixie cron.
"""

from datetime import datetime, timedelta

import msgspec

_BOUNDS = (
    (0, 59),
    (0, 23),
    (1, 31),
    (1, 12),
    (0, 7),
)  # minute hour day month weekday (7 = Sunday)
_SEARCH_LIMIT = timedelta(days=366 * 5)


class InvalidCron(ValueError):
    pass


class Cron(msgspec.Struct, frozen=True):
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    def matches(self, moment: datetime) -> bool:
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.month in self.months
            and self._day_matches(moment)
        )

    def next_after(self, moment: datetime) -> datetime | None:
        """The first matching minute strictly after `moment`, or None if there is none within years."""
        candidate = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = moment + _SEARCH_LIMIT
        while candidate < limit:
            if candidate.month not in self.months:
                candidate = (candidate.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(candidate):
                candidate = candidate.replace(hour=0, minute=0) + timedelta(days=1)
            elif candidate.hour not in self.hours:
                candidate = candidate.replace(minute=0) + timedelta(hours=1)
            elif candidate.minute not in self.minutes:
                candidate += timedelta(minutes=1)
            else:
                return candidate
        return None

    def _day_matches(self, moment: datetime) -> bool:
        day = moment.day in self.days
        weekday = (moment.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day and weekday
        return day or weekday


def parse_cron(expression: str) -> Cron:
    fields = expression.split()
    if fields and fields[0].startswith("CRON_TZ="):
        raise InvalidCron("CRON_TZ is not supported by the local broker; use UTC")
    if len(fields) != 5:
        raise InvalidCron(f"invalid cron expression {expression!r}: expected 5 fields")
    values = [_field(text, low, high) for text, (low, high) in zip(fields, _BOUNDS, strict=True)]
    weekdays = frozenset(day % 7 for day in values[4])
    return Cron(
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        any_day=fields[2] == "*",
        any_weekday=fields[4] == "*",
    )


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        values.update(_part(part, low, high, text))
    return frozenset(values)


def _part(part: str, low: int, high: int, text: str) -> range:
    base, _, step_text = part.partition("/")
    try:
        step = int(step_text) if step_text else 1
        if base == "*":
            start, stop = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, stop = int(first), int(last)
        else:
            start = int(base)
            stop = high if step_text else start
    except ValueError:
        raise InvalidCron(f"invalid cron field {text!r}") from None
    if step < 1 or not low <= start <= stop <= high:
        raise InvalidCron(f"invalid cron field {text!r}: out of range {low}-{high}")
    return range(start, stop + 1, step)
