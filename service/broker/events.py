"""The message log behind `GET /v2/events` and `/v2/logs` (protocol §8): what happened to each
message, newest first, in a ring buffer so it cannot outgrow its capacity.

Every entry has a sequence number that only grows; a page's cursor is the number of the
entry after it, so paging stays right while new entries arrive and old ones drop off.
"""

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator

import msgspec

from service.broker.records import Message, Pairs

STATES = frozenset({"CREATED", "ACTIVE", "RETRY", "ERROR", "DELIVERED", "FAILED", "CANCEL_REQUESTED", "CANCELED"})


class Event(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    time_ms: int
    state: str
    message: Message
    error: str | None = None
    next_delivery_ms: int | None = None
    response_status: int | None = None
    response_headers: Pairs = ()
    response_body: bytes | None = None


class EventLog:
    def __init__(self, capacity: int, clock: Callable[[], float] = time.time) -> None:
        self._entries: deque[Event] = deque(maxlen=capacity)
        self._seq = itertools.count()
        self._clock = clock

    def record(
        self,
        message: Message,
        state: str,
        *,
        error: str | None = None,
        next_delivery_ms: int | None = None,
        response_status: int | None = None,
        response_headers: Pairs = (),
        response_body: bytes | None = None,
    ) -> None:
        assert state in STATES, state
        self._entries.append(
            Event(
                seq=next(self._seq),
                time_ms=int(self._clock() * 1000),
                state=state,
                message=message,
                error=error,
                next_delivery_ms=next_delivery_ms,
                response_status=response_status,
                response_headers=response_headers,
                response_body=response_body,
            )
        )

    def newest_first(self, before: int | None = None) -> Iterator[Event]:
        """Entries from the newest down, only those numbered below `before` if given."""
        for event in reversed(self._entries):
            if before is None or event.seq < before:
                yield event
