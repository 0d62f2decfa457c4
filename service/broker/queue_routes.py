"""Queues (§3, §9): enqueue, and upsert, list, get, delete, pause and resume a queue.

Enqueue takes the publish headers except the delay, not-before and flow-control ones,
which the API does not list for it and the SDK never sends: they are ignored.
"""

import time
from collections.abc import Iterable
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.params import FromPath

from service.broker.destination import destination, target_after
from service.broker.edge import caller_ip, raw_headers
from service.broker.errors import BadRequest, NotFound
from service.broker.gate import Gate
from service.broker.headers import parse_spec
from service.broker.message_routes import cancel
from service.broker.queues import Queue, valid_name
from service.broker.records import Message

ENQUEUE = "/v2/enqueue/"
QUEUES = "/v2/queues"


class QueueUpsert(msgspec.Struct, frozen=True):
    queueName: str  # noqa: N815 - the SDK's field name
    parallelism: Annotated[int, msgspec.Meta(ge=1)] = 1
    paused: bool = False


@post(ENQUEUE + "{rest:path}", status_code=200)
async def enqueue(request: Request, rest: FromPath[str]) -> Response:
    name, slash, _ = target_after(request.scope, ENQUEUE).partition("/")
    if not slash:
        raise BadRequest("enqueue needs a queue name and a destination")
    valid_name(name)
    url, query_config = destination(request.scope, f"{ENQUEUE}{name}/")
    spec = parse_spec(url, [*raw_headers(request), *query_config.items()], await request.body())
    spec = msgspec.structs.replace(spec, delay_s=0.0, not_before=None, flow_control=None, queue=name)
    result = request.app.state.broker.publisher.publish(spec, caller_ip=caller_ip(request))
    if result.deduplicated:
        return Response({"messageId": result.message_id, "deduplicated": True}, status_code=202)
    return Response({"messageId": result.message_id}, status_code=200)


@post(QUEUES, status_code=200)
async def upsert_queue(request: Request) -> Response:
    try:
        upsert = msgspec.json.decode(await request.body(), type=QueueUpsert)
    except msgspec.DecodeError as error:
        raise BadRequest(f"invalid body: {error}") from None
    now_ms = int(time.time() * 1000)
    queue = _gate(request).queue(valid_name(upsert.queueName), now_ms)
    queue.parallelism, queue.paused, queue.updated_at_ms = upsert.parallelism, upsert.paused, now_ms
    _gate(request).changed()
    return Response(b"", status_code=200)


@get(QUEUES)
async def list_queues(request: Request) -> list[dict]:
    messages = request.app.state.broker.store.messages.values()
    return [queue_view(queue, messages) for _, queue in sorted(_gate(request).queues.items())]


@get(QUEUES + "/{name:str}")
async def get_queue(request: Request, name: FromPath[str]) -> dict:
    return queue_view(_existing(request, name), request.app.state.broker.store.messages.values())


@delete(QUEUES + "/{name:str}", status_code=200)
async def delete_queue(request: Request, name: FromPath[str]) -> Response:
    """The queue and the messages waiting in it go; those in flight finish."""
    queue = _existing(request, name)
    store = request.app.state.broker.store
    for message_id in _waiting(store.messages.values(), queue):
        cancel(store, message_id)
    del store.gate.queues[name]
    return Response(b"", status_code=200)


@post(QUEUES + "/{name:str}/{action:str}", status_code=200)
async def pause_or_resume_queue(request: Request, name: FromPath[str], action: FromPath[str]) -> Response:
    if action not in ("pause", "resume"):
        raise NotFound(f"no such queue action: {action}")
    queue = _existing(request, name)
    queue.paused, queue.updated_at_ms = action == "pause", int(time.time() * 1000)
    _gate(request).changed()
    return Response(b"", status_code=200)


def queue_view(queue: Queue, messages: Iterable[Message]) -> dict[str, Any]:
    return {
        "name": queue.name,
        "parallelism": queue.parallelism,
        "createdAt": queue.created_at_ms,
        "updatedAt": queue.updated_at_ms,
        "lag": len(_waiting(messages, queue)),
        "paused": queue.paused,
    }


def _waiting(messages: Iterable[Message], queue: Queue) -> list[str]:
    """The queue's messages not yet started: its lag."""
    return [m.message_id for m in messages if m.spec.queue == queue.name and m.message_id not in queue.holders]


def _gate(request: Request) -> Gate:
    return request.app.state.broker.store.gate


def _existing(request: Request, name: str) -> Queue:
    queue = _gate(request).queues.get(name)
    if queue is None:
        raise NotFound(f"queue {name} not found")
    return queue
