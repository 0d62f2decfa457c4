"""Messages (§6), the DLQ (§7) and signing keys (§9)."""

from typing import Any

import msgspec
from litestar import Request, Response, delete, get
from litestar.params import FromPath

from service.broker.errors import BadRequest, NotFound
from service.broker.records import DlqEntry
from service.broker.views import dlq_view, message_view

MAX_DLQ_PAGE = 100
_DLQ_FILTERS = {
    "messageId": lambda entry: entry.message.message_id,
    "url": lambda entry: entry.message.spec.url,
    "scheduleId": lambda entry: entry.message.schedule_id,
    "responseStatus": lambda entry: str(entry.response_status),
    "label": lambda entry: entry.message.spec.label,
}


@get("/v2/messages/{message_id:str}")
async def get_message(request: Request, message_id: FromPath[str]) -> dict:
    message = request.app.state.broker.store.messages.get(message_id)
    if message is None:
        raise NotFound(f"message {message_id} not found")
    return message_view(message)


@delete("/v2/messages/{message_id:str}", status_code=200)
async def cancel_message(request: Request, message_id: FromPath[str]) -> Response:
    if request.app.state.broker.store.finish(message_id) is None:
        raise NotFound(f"message {message_id} not found")
    return Response(b"", status_code=200)


@delete("/v2/messages", status_code=200)
async def cancel_messages(request: Request) -> dict:
    """Ids in the JSON body (the Python SDK) or the query (openapi); neither means all."""
    store = request.app.state.broker.store
    ids = await _ids(request, "messageIds") or list(store.messages)
    return {"cancelled": sum(store.finish(message_id) is not None for message_id in ids)}


@get("/v2/dlq")
async def list_dlq(request: Request) -> dict:
    query = request.query_params
    entries = [entry for entry in request.app.state.broker.store.dlq.values() if _selected(entry, query)]
    start = _integer(query.get("cursor") or "0", "cursor")
    count = min(MAX_DLQ_PAGE, max(1, _integer(query.get("count") or str(MAX_DLQ_PAGE), "count")))
    page: dict[str, Any] = {"messages": [dlq_view(entry) for entry in entries[start : start + count]]}
    if start + count < len(entries):
        page["cursor"] = str(start + count)
    return page


@get("/v2/dlq/{dlq_id:str}")
async def get_dlq(request: Request, dlq_id: FromPath[str]) -> dict:
    entry = request.app.state.broker.store.dlq.get(dlq_id)
    if entry is None:
        raise NotFound(f"dlq message {dlq_id} not found")
    return dlq_view(entry)


@delete("/v2/dlq/{dlq_id:str}", status_code=200)
async def delete_dlq(request: Request, dlq_id: FromPath[str]) -> Response:
    if request.app.state.broker.store.dlq.pop(dlq_id, None) is None:
        raise NotFound(f"dlq message {dlq_id} not found")
    return Response(b"", status_code=200)


@delete("/v2/dlq", status_code=200)
async def delete_dlq_many(request: Request) -> dict:
    dlq = request.app.state.broker.store.dlq
    ids = await _ids(request, "dlqIds")
    return {"deleted": sum(dlq.pop(dlq_id, None) is not None for dlq_id in ids)}


@get("/v2/keys")
async def signing_keys(request: Request) -> dict:
    config = request.app.state.broker.config
    return {"current": config.current_signing_key, "next": config.next_signing_key}


async def _ids(request: Request, name: str) -> list[str]:
    body = await request.body()
    if body.strip():
        try:
            ids = msgspec.json.decode(body, type=dict[str, list[str]]).get(name, [])
        except msgspec.DecodeError as error:
            raise BadRequest(f"invalid body: {error}") from None
        return ids
    return request.query_params.getall(name, [])


def _selected(entry: DlqEntry, query: Any) -> bool:
    return all(query.get(name) in (None, field(entry)) for name, field in _DLQ_FILTERS.items())


def _integer(value: str, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"invalid {name}: {value}") from None
    if number < 0:
        raise BadRequest(f"invalid {name}: {value}")
    return number
