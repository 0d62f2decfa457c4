"""What the broker holds: a message as published, the message in flight, DLQ entries, schedules."""

import secrets

import msgspec

from service.broker.cron import Cron

Pairs = tuple[tuple[str, str], ...]


class CallbackConfig(msgspec.Struct, frozen=True, kw_only=True):
    """`Upstash-(Failure-)Callback-*` headers: `Forward-<Name>` is forwarded, the rest configure."""

    url: str
    headers: Pairs = ()
    forward_headers: Pairs = ()
    method: str = "POST"
    retries: int | None = None
    retry_delay: str | None = None
    timeout_s: float | None = None
    delay_s: float = 0.0


class FlowControl(msgspec.Struct, frozen=True, kw_only=True):
    """`Upstash-Flow-Control-Key` and `-Value`: the limits a message asks its key to have (§13)."""

    key: str
    parallelism: int | None = None
    rate: int | None = None
    period_s: float = 1.0


class MessageSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A publish request, parsed and validated; schedules keep one as their template.

    `queue` is set by enqueue, and by a schedule's `Upstash-Queue-Name` on what it fires.
    """

    url: str
    method: str = "POST"
    body: bytes = b""
    content_type: str | None = None
    forward_headers: Pairs = ()
    retries: int = 3
    retry_delay: str | None = None
    timeout_s: float | None = None
    delay_s: float = 0.0
    not_before: int | None = None
    callback: CallbackConfig | None = None
    failure_callback: CallbackConfig | None = None
    deduplication_id: str | None = None
    content_based_deduplication: bool = False
    label: str | None = None  # as published: one label or a comma-separated list
    flow_control: FlowControl | None = None
    queue: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in (self.label or "").split(",") if part.strip())


class Message(msgspec.Struct, kw_only=True):
    """A message between publish and its final outcome; `retried` counts attempts after the first."""

    message_id: str
    spec: MessageSpec
    created_at_ms: int
    not_before_ms: int
    schedule_id: str | None = None
    caller_ip: str | None = None
    topic_name: str | None = None  # the URL group it was published to, if any
    endpoint_name: str | None = None
    is_callback: bool = False
    retried: int = 0
    queue_seq: int = -1


class DlqEntry(msgspec.Struct, frozen=True, kw_only=True):
    dlq_id: str
    message: Message
    response_status: int
    response_headers: Pairs
    response_body: bytes


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    name: str | None = None


class UrlGroup(msgspec.Struct, kw_only=True):
    name: str
    created_at_ms: int
    updated_at_ms: int
    endpoints: list[Endpoint] = msgspec.field(default_factory=list)


class Schedule(msgspec.Struct, kw_only=True):
    schedule_id: str
    cron_text: str
    cron: Cron
    spec: MessageSpec
    created_at_ms: int
    caller_ip: str | None = None
    paused: bool = False
    last_schedule_time_ms: int | None = None
    next_schedule_time_ms: int | None = None
    last_states: dict[str, str] = msgspec.field(default_factory=dict)


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")


def new_schedule_id() -> str:
    return "scd_" + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")
