"""The cron of a broker schedule, as QStash reads it: five fields at minute resolution, in UTC
unless the expression starts with `CRON_TZ=<IANA zone> `.

Parsing and stepping are jobtrail's own (domain.schedule.cron, over cronsim), so the broker
fires at the times jobtrail derives its ticks from, daylight-saving changes included.
"""

from datetime import datetime, timedelta

import msgspec

import domain.schedule.cron as schedule_cron

# QStash documents `CRON_TZ=`; the common Go cron parser (robfig/cron) also takes `TZ=`.
_TZ_PREFIXES = ("CRON_TZ=", "TZ=")


class InvalidCron(ValueError):
    pass


class Cron(msgspec.Struct, frozen=True):
    expression: str
    zone: str

    def matches(self, moment: datetime) -> bool:
        """Whether the expression fires at the minute `moment` (a UTC minute) starts."""
        minute = moment.replace(second=0, microsecond=0)
        return self.next_after(minute - timedelta(minutes=1)) == minute

    def next_after(self, moment: datetime) -> datetime | None:
        """The first fire strictly after `moment`, in UTC, or None if there is none."""
        return next(schedule_cron.fires_after(self.expression, self.zone, moment), None)


def parse_cron(text: str) -> Cron:
    fields = text.split()
    zone = "UTC"
    if fields and fields[0].startswith(_TZ_PREFIXES):
        zone = fields.pop(0).partition("=")[2]
        try:
            schedule_cron.zone(zone)
        except schedule_cron.UnknownTimeZone as error:
            raise InvalidCron(str(error)) from None
    try:
        expression = schedule_cron.check_cron(" ".join(fields))
    except schedule_cron.InvalidCron as error:
        raise InvalidCron(str(error)) from None
    return Cron(expression=expression, zone=zone)
