"""The DLQ (§7): list, read, delete one, delete by ids or filter, retry one, by ids or filter.

Pages follow the order entries arrived in. A cursor is the sequence number in the next
entry's id (`<ms>-<seq>`), so it stays right while entries are deleted or retried, and a
bulk delete or retry that stops at `count` resumes from its cursor.
"""

from collections.abc import Iterator
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.params import FromPath

from service.broker import filters
from service.broker.edge import raw_headers
from service.broker.errors import NotFound
from service.broker.headers import override_spec
from service.broker.publishing import Publisher
from service.broker.records import DlqEntry
from service.broker.store import Store
from service.broker.views import dlq_view

DLQ_FILTERS = (
    "messageId",
    "url",
    "topicName",
    "scheduleId",
    "queueName",
    "fromDate",
    "toDate",
    "responseStatus",
    "callerIp",
    "label",
    "flowControlKey",
)
PAGE = 100
MAX_RETRY_PAGE = 1000


@get("/v2/dlq")
async def list_dlq(request: Request) -> dict:
    found = filters.params(request.query_params.multi_items())
    filters.check_known(found, (*DLQ_FILTERS, "cursor", "count"))
    count = filters.integer(found, "count", PAGE, minimum=1, maximum=PAGE)
    entries, cursor = _page(request.app.state.broker.store, found, count)
    return _with_cursor({"messages": [dlq_view(entry) for entry in entries]}, cursor)


@get("/v2/dlq/{dlq_id:str}")
async def get_dlq(request: Request, dlq_id: FromPath[str]) -> dict:
    return dlq_view(_entry(request.app.state.broker.store, dlq_id))


@delete("/v2/dlq/{dlq_id:str}", status_code=200)
async def delete_dlq(request: Request, dlq_id: FromPath[str]) -> Response:
    if request.app.state.broker.store.dlq.pop(dlq_id, None) is None:
        raise NotFound(f"dlq message {dlq_id} not found")
    return Response(b"", status_code=200)


@delete("/v2/dlq", status_code=200)
async def delete_dlq_many(request: Request) -> dict:
    """By `dlqIds` (query or JSON body), else up to `count` entries the filters select."""
    store: Store = request.app.state.broker.store
    found = filters.params(request.query_params.multi_items(), await request.body())
    filters.check_known(found, (*DLQ_FILTERS, "dlqIds", "cursor", "count", "all"))
    if "dlqIds" in found:
        return {"deleted": sum(store.dlq.pop(dlq_id, None) is not None for dlq_id in filters.values(found, "dlqIds"))}
    entries, cursor = _page(store, found, filters.integer(found, "count", PAGE, minimum=1, maximum=PAGE))
    for entry in entries:
        del store.dlq[entry.dlq_id]
    return _with_cursor({"deleted": len(entries)}, cursor)


@post("/v2/dlq/retry/{dlq_id:str}", status_code=201)
async def retry_dlq(request: Request, dlq_id: FromPath[str]) -> Response:
    broker = request.app.state.broker
    entry = _entry(broker.store, dlq_id)
    return Response({"messageId": _retry(broker.store, broker.publisher, entry, raw_headers(request))}, status_code=201)


@post("/v2/dlq/retry", status_code=201)
async def retry_dlq_many(request: Request) -> Response:
    """By `dlqIds` (all must exist, else 404 and none is retried), else up to `count` by filter."""
    broker = request.app.state.broker
    store: Store = broker.store
    found = filters.params(request.query_params.multi_items(), await request.body())
    filters.check_known(found, (*DLQ_FILTERS, "dlqIds", "cursor", "count", "all"))
    cursor = None
    if "dlqIds" in found:
        ids = filters.values(found, "dlqIds")
        missing = [dlq_id for dlq_id in ids if dlq_id not in store.dlq]
        if missing:
            raise NotFound(f"dlq message(s) not found: {', '.join(missing)}")
        entries = [store.dlq[dlq_id] for dlq_id in ids]
    else:
        entries, cursor = _page(store, found, filters.integer(found, "count", PAGE, minimum=1, maximum=MAX_RETRY_PAGE))
    headers = raw_headers(request)
    responses = [{"messageId": _retry(store, broker.publisher, entry, headers)} for entry in entries]
    return Response(_with_cursor({"responses": responses}, cursor), status_code=201)


def _retry(store: Store, publisher: Publisher, entry: DlqEntry, headers: list[tuple[str, str]]) -> str:
    """A new message with the entry's body and headers, sent now unless the request's headers
    say otherwise; the original's deduplication id would only find the original."""
    original = entry.message
    spec = msgspec.structs.replace(
        original.spec, delay_s=0.0, not_before=None, deduplication_id=None, content_based_deduplication=False
    )
    published = publisher.publish(
        override_spec(spec, headers),
        caller_ip=original.caller_ip,
        topic_name=original.topic_name,
        endpoint_name=original.endpoint_name,
    )
    store.dlq.pop(entry.dlq_id, None)
    return published.message_id


def _entry(store: Store, dlq_id: str) -> DlqEntry:
    entry = store.dlq.get(dlq_id)
    if entry is None:
        raise NotFound(f"dlq message {dlq_id} not found")
    return entry


def _page(store: Store, found: filters.Params, count: int) -> tuple[list[DlqEntry], str | None]:
    """Up to `count` selected entries from the cursor on, and the cursor after them if more are selected."""
    start = filters.integer(found, "cursor", 0)
    page: list[DlqEntry] = []
    for entry in _selected(store, found):
        if _seq(entry) < start:
            continue
        if len(page) == count:
            return page, str(_seq(entry))
        page.append(entry)
    return page, None


def _selected(store: Store, found: filters.Params) -> Iterator[DlqEntry]:
    selected = filters.selection(found, DLQ_FILTERS)
    for entry in list(store.dlq.values()):
        facts = filters.Facts(
            message=entry.message, time_ms=_failed_at_ms(entry), response_status=entry.response_status
        )
        if selected(facts):
            yield entry


def _seq(entry: DlqEntry) -> int:
    return int(entry.dlq_id.rpartition("-")[2])


def _failed_at_ms(entry: DlqEntry) -> int:
    return int(entry.dlq_id.partition("-")[0])


def _with_cursor(answer: dict[str, Any], cursor: str | None) -> dict[str, Any]:
    if cursor is not None:
        answer["cursor"] = cursor
    return answer
