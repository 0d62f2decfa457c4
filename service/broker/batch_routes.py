"""`POST /v2/batch` (§4): many publishes in one request, answered in request order.

Each item succeeds or fails alone, as QStash promises: a failing item's place in the
answer holds `{"error": ...}` and the others are sent. A malformed request as a whole
(not a JSON array, or empty) is a 400.
"""

from typing import Any

import msgspec
from litestar import Request, Response, post

from service.broker.destination import check_url, is_group_name, is_url
from service.broker.edge import caller_ip
from service.broker.errors import BadRequest, BrokerError
from service.broker.queues import valid_name
from service.broker.routing import send


class BatchItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    destination: str
    headers: dict[str, str] = {}
    body: str | None = None
    queue: str | None = None


@post("/v2/batch", status_code=200)
async def batch(request: Request) -> Response:
    try:
        raw_items = msgspec.json.decode(await request.body(), type=list[msgspec.Raw])
    except msgspec.DecodeError as error:
        raise BadRequest(f"invalid batch: {error}; expected a JSON array of messages") from None
    if not raw_items:
        raise BadRequest("invalid batch: no messages")
    broker = request.app.state.broker
    ip = caller_ip(request)
    answers: list[Any] = []
    for raw in raw_items:
        try:
            item = _item(raw)
            headers, body = item.headers.items(), _body(item)
            sent = send(broker.publisher, broker.store, item.destination, headers, body, ip, queue=item.queue)
            answers.append(sent.answer)
        except BrokerError as error:
            answers.append({"error": error.message})
    return Response(answers, status_code=200)


def _item(raw: msgspec.Raw) -> BatchItem:
    try:
        item = msgspec.json.decode(raw, type=BatchItem)
    except msgspec.DecodeError as error:
        raise BadRequest(f"invalid batch message: {error}") from None
    if item.queue is not None:
        valid_name(item.queue)
    if not (is_url(item.destination) or is_group_name(item.destination)):
        check_url(item.destination)
    return item


def _body(item: BatchItem) -> bytes:
    return b"" if item.body is None else item.body.encode()
