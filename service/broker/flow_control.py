"""Flow-control keys (protocol §9, §13): the header that sets a key's limits, and each key's state.

A key limits the calls made under it, whatever their URL: `parallelism` calls in flight at
once (sent, no answer yet) and `rate` calls started per `period`; both may apply. A call is
one delivery attempt, so a retry counts again. The limits come with every message and the
latest message's win, except what an operator pinned. Periods run on the wall clock, not
the broker's time scale: they are throughput limits, and a scaled second would make a
rate meaningless.

A rate period starts with the first call after the previous period ended (or at a reset):
periods are at least `period` long and never overlap, so any stretch of k periods holds at
most (k + 1) · rate calls.
"""

import msgspec

from service.broker.durations import InvalidDuration, parse_duration
from service.broker.errors import BadRequest
from service.broker.records import FlowControl

MAX_PERIOD_S = 7 * 86400.0
VALUE_ERROR = "Upstash-Flow-Control-Value should be either rate=X or parallelism=Y, or both as comma-separated values"


def parse_flow_control(key: str | None, value: str | None) -> FlowControl | None:
    """The key and value headers, which come together or not at all."""
    if key is None and value is None:
        return None
    if not key or not key.strip():
        raise BadRequest("Upstash-Flow-Control-Key is required with Upstash-Flow-Control-Value")
    if value is None:
        raise BadRequest("Upstash-Flow-Control-Value is required with Upstash-Flow-Control-Key")
    settings: dict[str, str] = {}
    for part in value.split(","):
        name, equals, setting = part.strip().partition("=")
        if not equals or name not in ("parallelism", "rate", "period") or name in settings:
            raise BadRequest(VALUE_ERROR)
        settings[name] = setting.strip()
    if "parallelism" not in settings and "rate" not in settings:
        raise BadRequest(VALUE_ERROR)
    return FlowControl(
        key=key.strip(),
        parallelism=_positive("parallelism", settings.get("parallelism")),
        rate=_positive("rate", settings.get("rate")),
        period_s=parse_period(settings.get("period", "1s")),
    )


def parse_period(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except InvalidDuration:
        raise BadRequest(f"invalid flow-control period: {text}") from None
    if not 0 < seconds <= MAX_PERIOD_S:
        raise BadRequest("flow-control period must be positive and at most a week")
    return seconds


def _positive(name: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        number = int(text)
    except ValueError:
        raise BadRequest(f"invalid flow-control {name}: {text}") from None
    if number < 1:
        raise BadRequest(f"flow-control {name} must be at least 1")
    return number


class FlowKey(msgspec.Struct, kw_only=True):
    """One key's limits, what it has in flight, and its current rate period."""

    key: str
    parallelism: int | None = None
    rate: int | None = None
    period_s: float = 1.0
    paused: bool = False
    pinned_parallelism: bool = False
    pinned_rate: bool = False
    active: int = 0
    rate_count: int = 0
    period_start: float = 0.0

    def configure(self, limits: FlowControl) -> None:
        """A message's limits, for whatever is not pinned."""
        if not self.pinned_parallelism:
            self.parallelism = limits.parallelism
        if not self.pinned_rate:
            self.rate, self.period_s = limits.rate, limits.period_s

    def may_start(self, now: float) -> bool:
        if self.paused:
            return False
        if self.parallelism is not None and self.active >= self.parallelism:
            return False
        return self.rate is None or self._count_at(now) < self.rate

    def started(self, now: float) -> None:
        self.rate_count = self._count_at(now) + 1
        if self.rate_count == 1:
            self.period_start = now
        self.active += 1

    def ended(self) -> None:
        self.active = max(0, self.active - 1)

    def reset_rate(self, now: float) -> None:
        self.rate_count, self.period_start = 0, now

    def period_ends(self) -> float | None:
        """When a call held back by the rate may go: the end of the current period."""
        if self.rate is None or self.rate_count < self.rate:
            return None
        return self.period_start + self.period_s

    def _count_at(self, now: float) -> int:
        return self.rate_count if now < self.period_start + self.period_s else 0
