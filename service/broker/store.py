"""In-memory broker state: pending messages in due order, finished ones for a while, the
DLQ, schedules, URL groups, the message log, and the gate (queues and flow-control keys)
that due messages pass on their way out.

One event loop owns it, so no locks. Messages wait in a heap of (due, seq); re-queueing a
message gives it a new seq and the old heap entry is skipped when popped, which is how
cancel and retry avoid touching the heap.

A finished message (delivered, failed, cancelled) stays readable for `retention_s`, and
at most `retention_capacity` of them are kept, the oldest forgotten first: a client that
asks right after a fast delivery still finds it, and memory stays bounded.
"""

import asyncio
import heapq
import itertools
import random
import time
from collections import OrderedDict
from collections.abc import Callable

from service.broker.config import BrokerConfig
from service.broker.events import EventLog
from service.broker.gate import Gate
from service.broker.records import DlqEntry, Message, Schedule, UrlGroup


class Store:
    def __init__(self, config: BrokerConfig | None = None, clock: Callable[[], float] = time.time) -> None:
        config = config or BrokerConfig()
        self.messages: dict[str, Message] = {}
        self.dlq: dict[str, DlqEntry] = {}
        self.schedules: dict[str, Schedule] = {}
        self.url_groups: dict[str, UrlGroup] = {}
        self.events = EventLog(config.event_capacity, clock)
        self._retention_s = config.retention_s
        self._retention_capacity = config.retention_capacity
        self._finished: OrderedDict[str, tuple[Message, float]] = OrderedDict()  # id -> (message, forget at)
        self._clock = clock
        self._queue: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._dlq_seq = itertools.count()
        self._changed = asyncio.Event()
        self.gate = Gate(self._changed.set, config.global_parallelism)

    def enqueue(self, message: Message, due_at: float) -> None:
        message.queue_seq = next(self._seq)
        self.messages[message.message_id] = message
        heapq.heappush(self._queue, (due_at, message.queue_seq, message.message_id))
        self._changed.set()

    def pop_due(self, now: float, *, shuffle: bool = False) -> list[Message]:
        """Messages due by `now`, in due order unless shuffled; they stay visible until finished."""
        due: list[Message] = []
        while self._queue and self._queue[0][0] <= now:
            _, seq, message_id = heapq.heappop(self._queue)
            message = self.messages.get(message_id)
            if message is not None and message.queue_seq == seq:
                message.queue_seq = -1
                due.append(message)
        if shuffle:
            random.shuffle(due)
        return due

    def next_due(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    async def wait_for_change(self, timeout: float | None) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # lands as the event fires, and the worker would then never stop.
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            pass

    def clear_changed(self) -> None:
        self._changed.clear()

    def finish(self, message_id: str) -> Message | None:
        """Take a message out of the pending ones (delivered, failed or cancelled); it stays
        readable through `find` for the retention window."""
        message = self.messages.pop(message_id, None)
        if message is not None:
            self.gate.finished(message)
            now = self._clock()
            self._forget_expired(now)
            self._finished[message_id] = (message, now + self._retention_s)
            while len(self._finished) > self._retention_capacity:
                self._finished.popitem(last=False)
        return message

    def find(self, message_id: str) -> Message | None:
        """A pending message, or a finished one still retained."""
        message = self.messages.get(message_id)
        if message is not None:
            return message
        self._forget_expired(self._clock())
        retained = self._finished.get(message_id)
        return retained[0] if retained is not None else None

    def _forget_expired(self, now: float) -> None:
        while self._finished:
            _, forget_at = next(iter(self._finished.values()))
            if forget_at > now:
                return
            self._finished.popitem(last=False)

    def is_pending(self, message: Message) -> bool:
        return self.messages.get(message.message_id) is message

    def new_dlq_id(self, now_ms: int) -> str:
        """`<ms>-<seq>`, the shape of QStash DLQ ids."""
        return f"{now_ms}-{next(self._dlq_seq)}"

    def add_dlq(self, entry: DlqEntry) -> None:
        self.dlq[entry.dlq_id] = entry
