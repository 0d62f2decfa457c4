"""Many publishes in one `POST /v2/batch`, with each message's own outcome.

QStash takes up to `MAX_MESSAGES` messages a request and answers in request order, one
entry per message: its message id, or `{"error": ...}` for a message refused alone
while the others are sent. The SDK's `batch_json` encodes the request well, but its
reading of the answer raises KeyError('messageId') on the first refused entry, losing
which of the others QStash took. So the request is encoded by the SDK's own functions
and sent through its HTTP layer (authorization, base URL, status checks and errors as
for every other call), and the answer is read here, entry by entry.
"""

from typing import Any

import msgspec
from qstash import AsyncQStash
from qstash.message import BatchJsonRequest, convert_to_batch_messages, prepare_batch_message_body

MAX_MESSAGES = 100


class Accepted(msgspec.Struct, frozen=True):
    message_id: str  # a repeat's deduplication id is answered with the first message's id


class Refused(msgspec.Struct, frozen=True):
    error: str


class UnreadableAnswer(Exception):
    """A batch answer that does not say what became of each message."""


async def publish_batch(client: AsyncQStash, messages: list[BatchJsonRequest]) -> list[Accepted | Refused]:
    """Publish `messages` in one request; the outcome of each, in their order."""
    if not 1 <= len(messages) <= MAX_MESSAGES:
        raise ValueError(f"a batch holds 1 to {MAX_MESSAGES} messages, not {len(messages)}")
    answer = await client.http.request(
        path="/v2/batch",
        method="POST",
        headers={"Content-Type": "application/json"},
        body=prepare_batch_message_body(convert_to_batch_messages(messages)),
    )
    if not isinstance(answer, list) or len(answer) != len(messages):
        raise UnreadableAnswer(f"expected a list of {len(messages)} outcomes, got {_shape(answer)}")
    return [_outcome(entry) for entry in answer]


def _outcome(entry: Any) -> Accepted | Refused:
    match entry:
        case {"messageId": str(message_id)}:
            return Accepted(message_id)
        case {"error": error}:
            return Refused(str(error))
    raise UnreadableAnswer(f"an outcome with neither a message id nor an error: {_shape(entry)}")


def _shape(value: Any) -> str:
    """What came back, named without echoing it (an answer is not ours to log)."""
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return f"an object with keys {sorted(value)[:5]}"
    return type(value).__name__
