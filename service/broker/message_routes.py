"""Messages (§6): read one, cancel one, cancel by ids or by filter.

Cancelling is immediate here, so a filtered cancel finishes within the request, and its
`cancelled` is the number actually cancelled. A message already finished (delivered,
failed, cancelled) stays readable for the retention window but can no longer be cancelled.
"""

from litestar import Request, Response, delete, get
from litestar.params import FromPath

from service.broker import filters
from service.broker.errors import BadRequest, NotFound
from service.broker.store import Store
from service.broker.views import message_view

MESSAGE_FILTERS = (
    "topicName",
    "queueName",
    "url",
    "host",
    "path",
    "label",
    "flowControlKey",
    "fromDate",
    "toDate",
    "scheduleId",
    "callerIp",
    "callerIP",
)
# `count` is deprecated and ignored by QStash: every matching message is cancelled.
_CANCEL_OPTIONS = ("messageIds", "count", "all", "async")


@get("/v2/messages/{message_id:str}")
async def get_message(request: Request, message_id: FromPath[str]) -> dict:
    message = request.app.state.broker.store.find(message_id)
    if message is None:
        raise NotFound(f"message {message_id} not found")
    return message_view(message)


@delete("/v2/messages/{message_id:str}", status_code=202)
async def cancel_message(request: Request, message_id: FromPath[str]) -> Response:
    if not cancel(request.app.state.broker.store, message_id):
        raise NotFound(f"message {message_id} not found")
    return Response({"cancelled": 1}, status_code=202)


@delete("/v2/messages", status_code=202)
async def cancel_messages(request: Request) -> Response:
    """By `messageIds` (query or JSON body), else by filter; with neither, every pending message."""
    store: Store = request.app.state.broker.store
    found = filters.params(request.query_params.multi_items(), await request.body())
    filters.check_known(found, (*MESSAGE_FILTERS, *_CANCEL_OPTIONS))
    if filters.flag(found, "async"):
        raise BadRequest("async bulk actions are not supported by the local broker: it cancels at once")
    ids = filters.values(found, "messageIds")
    if "messageIds" not in found:
        selected = filters.selection(found, MESSAGE_FILTERS)
        ids = [
            message.message_id
            for message in store.messages.values()
            if selected(filters.Facts(message=message, time_ms=message.created_at_ms))
        ]
    return Response({"cancelled": sum(cancel(store, message_id) for message_id in ids)}, status_code=202)


def cancel(store: Store, message_id: str) -> bool:
    message = store.finish(message_id)
    if message is None:
        return False
    store.events.record(message, "CANCEL_REQUESTED")
    store.events.record(message, "CANCELED")
    return True
