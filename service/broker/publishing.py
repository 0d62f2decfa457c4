"""Accepting a message: deduplication, an id, and its first due time on the scaled clock.

Publish requests, schedule ticks and (failure) callbacks all come through here, so every
message is queued the same way.
"""

import hashlib
import time
from collections.abc import Callable

import msgspec

from service.broker.config import BrokerConfig
from service.broker.dedup import DedupMemory
from service.broker.records import Message, MessageSpec, UrlGroup, new_message_id
from service.broker.store import Store


class Published(msgspec.Struct, frozen=True):
    message_id: str
    deduplicated: bool = False


class Publisher:
    def __init__(self, store: Store, config: BrokerConfig, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self.dedup = DedupMemory(config.dedup_window_s, config.dedup_capacity)

    def publish(
        self,
        spec: MessageSpec,
        *,
        schedule_id: str | None = None,
        caller_ip: str | None = None,
        is_callback: bool = False,
        topic_name: str | None = None,
        endpoint_name: str | None = None,
    ) -> Published:
        now = self._clock()
        key = dedup_key(spec, topic_name)
        if key is not None:
            existing = self.dedup.message_for(key, now)
            if existing is not None:
                return Published(existing, deduplicated=True)
        wait_s = max(0.0, spec.not_before - now) if spec.not_before is not None else spec.delay_s
        message = Message(
            message_id=new_message_id(),
            spec=spec,
            created_at_ms=int(now * 1000),
            not_before_ms=int((now + wait_s) * 1000),
            schedule_id=schedule_id,
            caller_ip=caller_ip,
            topic_name=topic_name,
            endpoint_name=endpoint_name,
            is_callback=is_callback,
        )
        if key is not None:
            self.dedup.remember(key, message.message_id, now)
        self._store.gate.accepted(spec, message.created_at_ms)
        self._store.enqueue(message, self.due_at(now, wait_s))
        self._store.events.record(message, "CREATED")
        return Published(message.message_id)

    def publish_to_group(
        self,
        group: UrlGroup,
        spec: MessageSpec,
        *,
        schedule_id: str | None = None,
        caller_ip: str | None = None,
    ) -> list[tuple[str, Published]]:
        """One message per endpoint, each deduplicated on its own (§2.3, §9)."""
        return [
            (
                endpoint.url,
                self.publish(
                    msgspec.structs.replace(spec, url=endpoint.url),
                    schedule_id=schedule_id,
                    caller_ip=caller_ip,
                    topic_name=group.name,
                    endpoint_name=endpoint.name,
                ),
            )
            for endpoint in group.endpoints
        ]

    def due_at(self, now: float, wait_s: float) -> float:
        """`now` plus a protocol delay on the scaled clock, plus the injected latency."""
        return now + wait_s * self._config.time_scale + self._config.faults.extra_delay_s


def dedup_key(spec: MessageSpec, topic_name: str | None = None) -> str | None:
    """The explicit id, or a hash of what the docs say content-based dedup covers.

    A URL group's endpoints share the publish's id, so each is keyed by its URL too.
    """
    if spec.deduplication_id is not None:
        if topic_name is not None:
            return f"group:{topic_name}\0{spec.url}\0{spec.deduplication_id}"
        return "id:" + spec.deduplication_id
    if not spec.content_based_deduplication:
        return None
    digest = hashlib.sha256()
    for part in (
        spec.url,
        spec.content_type or "",
        *(f"{k}:{v}" for k, v in sorted(spec.forward_headers)),
    ):
        digest.update(part.encode() + b"\0")
    digest.update(spec.body)
    return "content:" + digest.hexdigest()
