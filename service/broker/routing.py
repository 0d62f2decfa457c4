"""Publishing to a destination, a URL or a URL group's endpoints, and the answer QStash gives
for it (protocol §2.3): one object for a URL, a list with one per endpoint for a group."""

from collections.abc import Iterable
from typing import Any

import msgspec

from service.broker.destination import is_url
from service.broker.errors import NotFound
from service.broker.headers import parse_spec
from service.broker.publishing import Publisher
from service.broker.records import MessageSpec
from service.broker.store import Store


class Sent(msgspec.Struct, frozen=True):
    answer: dict[str, Any] | list[dict[str, Any]]
    deduplicated: bool  # every message it named was a duplicate: QStash answers 202


def send(
    publisher: Publisher,
    store: Store,
    destination: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    caller_ip: str | None,
    queue: str | None = None,
) -> Sent:
    """`destination` is a URL (query included) or a URL group name, already checked; with
    `queue`, the message waits its turn in that queue as an enqueue's does (no delay, no key)."""
    if is_url(destination):
        published = publisher.publish(_queued(parse_spec(destination, headers, body), queue), caller_ip=caller_ip)
        answer: dict[str, Any] = {"messageId": published.message_id}
        if published.deduplicated:
            answer["deduplicated"] = True
        return Sent(answer, published.deduplicated)
    group = store.url_groups.get(destination)
    if group is None:
        raise NotFound(f"url group {destination} not found")
    spec = _queued(parse_spec(group.endpoints[0].url, headers, body), queue)
    results = publisher.publish_to_group(group, spec, caller_ip=caller_ip)
    items = [
        {"messageId": result.message_id, "url": url, **({"deduplicated": True} if result.deduplicated else {})}
        for url, result in results
    ]
    return Sent(items, all(result.deduplicated for _, result in results))


def _queued(spec: MessageSpec, queue: str | None) -> MessageSpec:
    if queue is None:
        return spec
    return msgspec.structs.replace(spec, delay_s=0.0, not_before=None, flow_control=None, queue=queue)
