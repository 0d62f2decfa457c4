"""Whether QStash answered this process when it last asked: for /readyz and the health verdict.

The schedule keeper asks on every check and tells this record; a change is logged once,
like a database outage. Only the error's type (and an HTTP status) is kept: an error's
text may quote a response body or a URL, and /readyz needs no key.
"""

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Literal

import msgspec
from qstash.errors import QStashError

from service.clock import now

logger = logging.getLogger("jobtrail.qstash")

_STATUS = re.compile(r"status: (\d{3})")


class BrokerHealth(msgspec.Struct, frozen=True, omit_defaults=True):
    state: Literal["unknown", "up", "down"]  # unknown: not asked yet
    since: datetime  # when it entered this state
    error: str | None = None  # while down: what the last attempt met


class BrokerStatus:
    def __init__(self, clock: Callable[[], datetime] = now) -> None:
        self.clock = clock
        self.health = BrokerHealth(state="unknown", since=clock())

    def answered(self) -> None:
        if self.health.state == "down":
            down_s = (self.clock() - self.health.since).total_seconds()
            logger.warning("QStash answers again after %.0f s", down_s)
        if self.health.state != "up":
            self.health = BrokerHealth(state="up", since=self.clock())

    def failed(self, error: BaseException) -> None:
        described = describe(error)
        if self.health.state != "down":
            logger.warning("QStash does not answer (%s); runs wait in the outbox until it does", described)
            self.health = BrokerHealth(state="down", since=self.clock(), error=described)
        elif described != self.health.error:
            self.health = msgspec.structs.replace(self.health, error=described)


def describe(error: BaseException) -> str:
    """The error's type, and the HTTP status QStash answered with, if any."""
    status = _STATUS.search(str(error)) if isinstance(error, QStashError) else None
    return f"{type(error).__name__} (HTTP {status.group(1)})" if status else type(error).__name__
