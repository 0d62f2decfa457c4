"""The dispatch gate between the due heap and the deliveries: may this message start now?

A due message starts when its queue has a free place (or it holds one already: a retry),
its flow-control key allows another call now, and the broker is under its global
parallelism. Otherwise it joins the waitlist, in the order it came due, and is never
refused: it starts once a call ends, a message settles, a rate period ends or an operator
resumes its key or queue. The worker hands every due message here and tells the gate
when an attempt ends; the store tells it when a message is gone for good.
"""

import time
from collections.abc import Callable, Iterable

from service.broker.flow_control import FlowKey
from service.broker.queues import Queue, valid_name
from service.broker.records import Message, MessageSpec


class Gate:
    def __init__(self, wake: Callable[[], None], global_parallelism: int) -> None:
        self.flow_keys: dict[str, FlowKey] = {}
        self.queues: dict[str, Queue] = {}
        self.global_parallelism = global_parallelism
        self.active = 0
        self.waiting: dict[str, Message] = {}  # the waitlist, in the order messages came due
        self._callback_of: dict[str, tuple[str, str]] = {}  # callback id -> (queue, source message id)
        self._wake = wake

    def accepted(self, spec: MessageSpec, now_ms: int) -> None:
        """A message was published: its key takes its limits, its queue comes into being."""
        if spec.flow_control is not None:
            self.flow_key(spec.flow_control.key).configure(spec.flow_control)
            self._wake()  # looser limits may let waiting messages go
        if spec.queue is not None:
            self.queue(spec.queue, now_ms)

    def flow_key(self, key: str) -> FlowKey:
        return self.flow_keys.setdefault(key, FlowKey(key=key))

    def queue(self, name: str, now_ms: int) -> Queue:
        if name not in self.queues:
            self.queues[valid_name(name)] = Queue(name=name, created_at_ms=now_ms, updated_at_ms=now_ms)
        return self.queues[name]

    def admit(self, due: Iterable[Message], now: float) -> list[Message]:
        """The due messages and those waiting that may start now, marked started; the rest wait."""
        for message in due:
            self.waiting[message.message_id] = message
        started = []
        # Whom a message must ask, and whether it holds its queue's place already (a retry):
        # once such a one is held back, the rest like it are too, this scan.
        blocked: set[tuple[str | None, str | None, bool]] = set()
        for message in list(self.waiting.values()):
            if self.active >= self.global_parallelism:
                break
            spec = message.spec
            holds = spec.queue in self.queues and message.message_id in self.queues[spec.queue].holders
            gates = (spec.queue, spec.flow_control.key if spec.flow_control is not None else None, holds)
            # A queue is first in, first out: behind its first message held back, for
            # whatever reason, the rest of its new messages wait too.
            if gates in blocked or (not holds and (spec.queue, None, False) in blocked):
                continue
            if self._may_start(message, now):
                del self.waiting[message.message_id]
                self._start(message, now)
                started.append(message)
            else:
                blocked.add(gates)
                if spec.queue is not None and not holds:
                    blocked.add((spec.queue, None, False))
        return started

    def attempt_ended(self, message: Message) -> None:
        """A call came back (or failed to): its place in flight is free."""
        self.active = max(0, self.active - 1)
        if message.spec.flow_control is not None:
            self.flow_key(message.spec.flow_control.key).ended()
        self._wake()

    def callback_published(self, source: Message, callback_id: str) -> None:
        """A queued message's callback keeps the message's place until it has settled too."""
        name = source.spec.queue
        if name is not None and name in self.queues and source.message_id in self.queues[name].holders:
            self.queues[name].hold(source.message_id)
            self._callback_of[callback_id] = (name, source.message_id)

    def finished(self, message: Message) -> None:
        """A message is gone for good (settled or cancelled): it no longer waits or holds a place."""
        self.waiting.pop(message.message_id, None)
        held = [(message.spec.queue, message.message_id)] if message.spec.queue is not None else []
        if message.message_id in self._callback_of:
            held.append(self._callback_of.pop(message.message_id))
        for name, holder in held:
            queue = self.queues.get(name or "")
            if queue is not None:
                queue.let_go(holder)
        self._wake()

    def next_wake(self) -> float | None:
        """When a rate period ends for a key that has messages waiting."""
        waiting_keys = {m.spec.flow_control.key for m in self.waiting.values() if m.spec.flow_control is not None}
        ends = [end for key in waiting_keys if (end := self.flow_key(key).period_ends()) is not None]
        return min(ends) if ends else None

    def waitlist_size(self, key: str) -> int:
        return sum(m.spec.flow_control is not None and m.spec.flow_control.key == key for m in self.waiting.values())

    def changed(self) -> None:
        """A pause, resume, pin or reset: look at the waitlist again."""
        self._wake()

    def _may_start(self, message: Message, now: float) -> bool:
        spec = message.spec
        if spec.queue is not None:
            queue = self.queue(spec.queue, int(time.time() * 1000))
            if message.message_id not in queue.holders and not queue.may_start():
                return False
        return spec.flow_control is None or self.flow_key(spec.flow_control.key).may_start(now)

    def _start(self, message: Message, now: float) -> None:
        self.active += 1
        spec = message.spec
        if spec.flow_control is not None:
            self.flow_key(spec.flow_control.key).started(now)
        if spec.queue is not None:
            queue = self.queues[spec.queue]
            if message.message_id not in queue.holders:
                queue.hold(message.message_id)
