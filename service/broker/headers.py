"""Publish and schedule headers (protocol §2.2) parsed into a validated MessageSpec.

Strict at the edge: a malformed delay, retry count or retry-delay expression is a 400 now
rather than a message that can never be delivered.
"""

from collections.abc import Iterable
from typing import TypeVar

import msgspec

from service.broker.backoff import InvalidExpression, compile_retry_delay
from service.broker.durations import InvalidDuration, parse_duration
from service.broker.errors import BadRequest
from service.broker.flow_control import parse_flow_control
from service.broker.records import CallbackConfig, MessageSpec, Pairs

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_FORWARD = "upstash-forward-"
_CALLBACK = "upstash-callback"
_FAILURE_CALLBACK = "upstash-failure-callback"
_Default = TypeVar("_Default", int, None)


def canonical(name: str) -> str:
    """Go's canonical header form (`x-foo-bar` → `X-Foo-Bar`), as QStash shows names."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


# QStash features this broker does not implement: refused by name rather than ignored.
_UNSUPPORTED = {
    "upstash-redact-fields": "Upstash-Redact-Fields (redaction)",
    "upstash-header-forward": "Upstash-Header-Forward (forwarding every header)",
}
# Which MessageSpec fields a header sets, for overriding a stored message's configuration.
_OVERRIDES = {
    "upstash-method": ("method",),
    "upstash-retries": ("retries",),
    "upstash-retry-delay": ("retry_delay",),
    "upstash-timeout": ("timeout_s",),
    "upstash-delay": ("delay_s",),
    "upstash-not-before": ("not_before",),
    "upstash-callback": ("callback",),
    "upstash-failure-callback": ("failure_callback",),
    "upstash-deduplication-id": ("deduplication_id",),
    "upstash-content-based-deduplication": ("content_based_deduplication",),
    "upstash-label": ("label",),
}


def parse_spec(url: str, headers: Iterable[tuple[str, str]], body: bytes) -> MessageSpec:
    pairs = [(name.lower(), value) for name, value in headers]
    first = _first(pairs)
    for name, feature in _UNSUPPORTED.items():
        if name in first:
            raise BadRequest(f"{feature} is not supported by the local broker")
    not_before = first.get("upstash-not-before")
    return MessageSpec(
        url=url,
        method=_method(first.get("upstash-method")),
        body=body,
        content_type=first.get("content-type"),
        forward_headers=_prefixed(pairs, _FORWARD),
        retries=_retries(first.get("upstash-retries"), default=3),
        retry_delay=_retry_delay(first.get("upstash-retry-delay")),
        timeout_s=_timeout(first.get("upstash-timeout")),
        delay_s=_duration("Upstash-Delay", first.get("upstash-delay")) or 0.0,
        not_before=_integer("Upstash-Not-Before", not_before) if not_before is not None else None,
        callback=_callback(first.get(_CALLBACK), _prefixed(pairs, _CALLBACK + "-")),
        failure_callback=_callback(first.get(_FAILURE_CALLBACK), _prefixed(pairs, _FAILURE_CALLBACK + "-")),
        deduplication_id=first.get("upstash-deduplication-id"),
        content_based_deduplication=first.get("upstash-content-based-deduplication", "").lower() == "true",
        label=first.get("upstash-label"),
        flow_control=parse_flow_control(first.get("upstash-flow-control-key"), first.get("upstash-flow-control-value")),
    )


def override_spec(spec: MessageSpec, headers: Iterable[tuple[str, str]]) -> MessageSpec:
    """`spec` with the configuration the given headers set replaced, the rest kept (DLQ retry)."""
    pairs = [(name.lower(), value) for name, value in headers]
    given = parse_spec(spec.url, pairs, spec.body)
    named = {name for name, _ in pairs}
    changes = {field: getattr(given, field) for name, fields in _OVERRIDES.items() if name in named for field in fields}
    if any(name.startswith(_FORWARD) for name, _ in pairs):
        changes["forward_headers"] = given.forward_headers
    return msgspec.structs.replace(spec, **changes)


def _first(pairs: list[tuple[str, str]]) -> dict[str, str]:
    first: dict[str, str] = {}
    for name, value in pairs:
        first.setdefault(name, value)
    return first


def _prefixed(pairs: list[tuple[str, str]], prefix: str) -> Pairs:
    return tuple((canonical(name[len(prefix) :]), value) for name, value in pairs if name.startswith(prefix))


def _callback(url: str | None, headers: Pairs) -> CallbackConfig | None:
    if url is None:
        return None
    if not url.startswith(("http://", "https://")):
        raise BadRequest(f"invalid callback url: {url}")
    config = _first([(name.lower(), value) for name, value in headers])
    return CallbackConfig(
        url=url,
        headers=headers,
        forward_headers=tuple(
            (name[len("Forward-") :], value) for name, value in headers if name.startswith("Forward-")
        ),
        method=_method(config.get("method")),
        retries=_retries(config.get("retries"), default=None),
        retry_delay=_retry_delay(config.get("retry-delay")),
        timeout_s=_timeout(config.get("timeout")),
        delay_s=_duration("callback delay", config.get("delay")) or 0.0,
    )


def _method(value: str | None) -> str:
    method = (value or "POST").upper()
    if method not in METHODS:
        raise BadRequest(f"invalid method: {value}")
    return method


def _retries(value: str | None, *, default: _Default) -> int | _Default:
    if value is None:
        return default
    retries = _integer("Upstash-Retries", value)
    if retries < 0:
        raise BadRequest("Upstash-Retries must not be negative")
    return retries


def _retry_delay(value: str | None) -> str | None:
    if value is not None:
        try:
            compile_retry_delay(value)
        except InvalidExpression as error:
            raise BadRequest(str(error)) from None
    return value


def _timeout(value: str | None) -> float | None:
    seconds = _duration("Upstash-Timeout", value)
    if seconds is not None and seconds <= 0:
        raise BadRequest("Upstash-Timeout must be positive")
    return seconds


def _duration(name: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except InvalidDuration:
        raise BadRequest(f"invalid {name}: {value}") from None


def _integer(name: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise BadRequest(f"invalid {name}: {value}") from None
