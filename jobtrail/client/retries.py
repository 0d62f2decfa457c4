"""When to ask again: exponential backoff with full jitter, within a budget of attempts and seconds.

Only a call that is safe to repeat is retried on a dropped connection or a 503/429: a
read, a create with its Idempotency-Key, a cancel. A call that is not (a retry of a
failed job) is asked again only when it cannot have reached the service (the connection
was never made) or the service said 503 or 429, which it answers before anything is
written.
A Retry-After the service sends is honoured: no attempt comes sooner; when it would
come past the budget, the call gives up at once rather than sleep in vain.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

import httpx

from jobtrail.client.errors import RetryLater, TransportError

logger = logging.getLogger("jobtrail.client")

# Errors after which the request cannot have reached the service.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Retries:
    """How hard a call tries: `attempts` in all, within `budget_s` seconds of the first."""

    attempts: int = 6
    budget_s: float = 60.0
    base_s: float = 0.25  # the first backoff's ceiling; doubled each attempt
    max_backoff_s: float = 10.0

    def start(self, what: str) -> Attempts:
        return Attempts(self, what)


DEFAULT_RETRIES = Retries()
NO_RETRIES = Retries(attempts=1, budget_s=0.0)


@dataclass
class Attempts:
    """One logical call's attempts so far; `delay` says how long to wait before the next, or re-raises."""

    policy: Retries
    what: str  # e.g. "GET /v1/jobs/…", for the log line
    made: int = 1
    started: float = field(default_factory=time.monotonic)

    def delay(self, error: Exception, *, idempotent: bool) -> float:
        """Seconds to wait before attempt `made + 1`; raises `error` when it may not or need not be retried."""
        if not _retryable(error, idempotent):
            raise _final(error, self.what)
        backoff = random.uniform(0, min(self.policy.max_backoff_s, self.policy.base_s * 2 ** (self.made - 1)))
        asked = error.retry_after if isinstance(error, RetryLater) else None
        wait = max(backoff, asked or 0.0)
        spent = time.monotonic() - self.started
        if self.made >= self.policy.attempts or spent + wait > self.policy.budget_s:
            raise _final(error, self.what)
        self.made += 1
        logger.info(
            "retrying %s after %s in %.1f s (attempt %d of %d)",
            self.what,
            _describe(error),
            wait,
            self.made,
            self.policy.attempts,
        )
        return wait

    def reset(self) -> None:
        """Progress was made (a stream delivered a message): the next failure starts a fresh budget."""
        self.made, self.started = 1, time.monotonic()


def _retryable(error: Exception, idempotent: bool) -> bool:
    if isinstance(error, RetryLater):
        return True
    if isinstance(error, NOT_SENT):
        return True
    return idempotent and isinstance(error, httpx.TransportError)


def _final(error: Exception, what: str) -> Exception:
    """What the caller sees: a problem as it came, a transport failure as our own type."""
    if isinstance(error, httpx.TransportError):
        return TransportError(f"{what}: {type(error).__name__}: {error}")
    return error


def _describe(error: Exception) -> str:
    if isinstance(error, RetryLater):
        return str(error.status)
    return type(error).__name__
