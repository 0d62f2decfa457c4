"""Queues (protocol §3, §9): named FIFO lines of messages with a parallelism.

A message of a queue is active from its first attempt until its final outcome (delivered,
failed or cancelled, after all its retries) and until every callback it caused has had
its own final outcome; only `parallelism` messages of a queue are active at once, and
the next one waits its turn in enqueue order. So a queue of parallelism 1 delivers one
message after another, each settled before the next one starts.
"""

import re

import msgspec

from service.broker.errors import BadRequest

DEFAULT_PARALLELISM = 1
_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")


def valid_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise BadRequest("invalid queue name: only alphanumerics, '.', '_' and '-' are allowed")
    return name


class Queue(msgspec.Struct, kw_only=True):
    """`holders` maps each active message to what is still open of it: itself and its callbacks."""

    name: str
    parallelism: int = DEFAULT_PARALLELISM
    paused: bool = False
    created_at_ms: int
    updated_at_ms: int
    holders: dict[str, int] = msgspec.field(default_factory=dict)

    def may_start(self) -> bool:
        return not self.paused and len(self.holders) < self.parallelism

    def hold(self, message_id: str) -> None:
        self.holders[message_id] = self.holders.get(message_id, 0) + 1

    def let_go(self, message_id: str) -> None:
        left = self.holders.get(message_id, 0) - 1
        if left > 0:
            self.holders[message_id] = left
        else:
            self.holders.pop(message_id, None)
