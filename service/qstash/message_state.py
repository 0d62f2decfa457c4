"""Whether QStash still holds a message: waiting for its first delivery or between retries.

`GET /v2/messages/{id}` alone cannot say: QStash (and the local broker) keep a finished
message readable for a while after its last attempt. A 404 means gone; a 200 is read
together with the message's newest log entry (`GET /v2/events`, newest first), and a
message whose last state is final (delivered, failed into the DLQ, cancelled) is not held.
A QStash without the log (a dev server that lacks it) leaves the answer at "held", which
only makes a caller wait longer, never act twice.
"""

from qstash import AsyncQStash
from qstash.errors import QStashError

FINAL = frozenset({"DELIVERED", "FAILED", "CANCELED", "CANCELLED", "CANCEL_REQUESTED"})


async def held(client: AsyncQStash, message_id: str) -> bool:
    try:
        await client.message.get(message_id)
    except QStashError as error:
        if "status: 404" in str(error):  # the SDK's one error type; only a 404 means gone
            return False
        raise
    return await _last_state(client, message_id) not in FINAL


async def _last_state(client: AsyncQStash, message_id: str) -> str | None:
    try:
        answer = await client.http.request(
            path="/v2/events", method="GET", params={"messageId": message_id, "count": "1"}
        )
    except QStashError:
        return None
    if not isinstance(answer, dict):
        return None
    entries = answer.get("events") or answer.get("logs") or []
    return entries[0].get("state") if entries and isinstance(entries[0], dict) else None
