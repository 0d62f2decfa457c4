"""The delivery loop: due messages go out concurrently, failures retry, exhausted ones go to the DLQ.

Each due message passes the gate (its queue, its flow-control key, the global parallelism;
service/broker/gate.py) and is then delivered in its own task, as QStash delivers in
parallel; one held back waits in the gate's waitlist. A retry is the same message (same
id, `retried` + 1) queued again at its backoff. A message cancelled while in flight is not
retried. Callbacks and failure callbacks are new messages (§11, §12).
"""

import asyncio
import logging
import time

from service.broker import backoff
from service.broker.callbacks import callback_spec
from service.broker.config import BrokerConfig
from service.broker.delivery import Deliverer, Outcome
from service.broker.publishing import Publisher
from service.broker.records import DlqEntry, Message, MessageSpec
from service.broker.store import Store

log = logging.getLogger("jobtrail.broker")


class Worker:
    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        deliverer: Deliverer,
        config: BrokerConfig,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._deliverer = deliverer
        self._config = config
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        while True:
            self._store.clear_changed()
            now = time.time()
            gate = self._store.gate
            for message in gate.admit(self._store.pop_due(now, shuffle=self._config.faults.shuffle), now):
                task = asyncio.create_task(self._deliver(message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            wakes = [at for at in (self._store.next_due(), gate.next_wake()) if at is not None]
            await self._store.wait_for_change(max(0.0, min(wakes) - time.time()) if wakes else None)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _deliver(self, message: Message) -> None:
        try:
            self._store.events.record(message, "ACTIVE")
            try:
                outcome = await self._deliverer.attempt(message)
                if outcome.delivered and self._config.faults.duplicate_deliveries:
                    await self._deliverer.attempt(message)
            finally:
                self._store.gate.attempt_ended(message)
            self._settle(message, outcome)
        except Exception:
            log.exception("delivery of %s failed unexpectedly", message.message_id)

    def _settle(self, message: Message, outcome: Outcome) -> None:
        spec = message.spec
        if spec.callback is not None and not message.is_callback and outcome.status is not None:
            self._publish_callback(message, callback_spec(spec.callback, message, outcome))
        if outcome.delivered:
            self._store.finish(message.message_id)
            self._store.events.record(message, "DELIVERED", response_status=outcome.status)
            self._record_schedule_state(message, "SUCCESS")
            return
        self._store.events.record(
            message,
            "ERROR",
            error=outcome.error or f"status {outcome.status}",
            response_status=outcome.status,
            response_headers=outcome.headers,
            response_body=outcome.body,
        )
        if not self._store.is_pending(message):
            log.info("%s was cancelled during delivery", message.message_id)
        elif outcome.non_retryable or message.retried >= spec.retries:
            self._fail(message, outcome)
        else:
            log.info(
                "%s attempt %d failed: %s",
                message.message_id,
                message.retried,
                outcome.status or outcome.error,
            )
            message.retried += 1
            now = time.time()
            due_at = self._publisher.due_at(now, self._retry_delay_s(message, outcome, now))
            self._store.enqueue(message, due_at)
            self._store.events.record(message, "RETRY", next_delivery_ms=int(due_at * 1000))

    def _retry_delay_s(self, message: Message, outcome: Outcome, now: float) -> float:
        hinted = backoff.hinted_delay_s({k.lower(): v for k, v in outcome.headers}, now)
        if hinted is not None:
            return hinted
        if message.spec.retry_delay is not None:
            return backoff.retry_delay_s(message.spec.retry_delay, message.retried - 1)
        return backoff.default_backoff_s(message.retried)

    def _record_schedule_state(self, message: Message, state: str) -> None:
        schedule = self._store.schedules.get(message.schedule_id or "")
        if schedule is not None and message.message_id in schedule.last_states:
            schedule.last_states[message.message_id] = state

    def _publish_callback(self, source: Message, spec: MessageSpec) -> None:
        published = self._publisher.publish(spec, is_callback=True)
        self._store.gate.callback_published(source, published.message_id)

    def _fail(self, message: Message, outcome: Outcome) -> None:
        self._record_schedule_state(message, "FAIL")
        entry = DlqEntry(
            dlq_id=self._store.new_dlq_id(int(time.time() * 1000)),
            message=message,
            response_status=outcome.status if outcome.status is not None else 0,
            response_headers=outcome.headers,
            response_body=outcome.body,
        )
        self._store.add_dlq(entry)
        self._store.events.record(message, "FAILED", response_status=entry.response_status)
        log.info(
            "%s failed after %d retries; DLQ %s",
            message.message_id,
            message.retried,
            entry.dlq_id,
        )
        failure_callback = message.spec.failure_callback
        if failure_callback is not None and not message.is_callback:
            self._publish_callback(message, callback_spec(failure_callback, message, outcome, entry.dlq_id))
        self._store.finish(message.message_id)  # after its failure callback, which keeps its queue's place
