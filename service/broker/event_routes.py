"""The message log (§8): `GET /v2/events` (what the SDKs call) and `GET /v2/logs` (openapi),
newest first; each answer carries its page under both `events` and `logs`."""

from litestar import Request, get

from service.broker import filters
from service.broker.views import event_view

EVENT_FILTERS = (
    "messageId",
    "messageIds",
    "state",
    "url",
    "topicName",
    "queueName",
    "scheduleId",
    "fromDate",
    "toDate",
    "label",
)
PAGE = 100
MAX_PAGE = 1000  # the SDK's documented maximum


@get("/v2/events")
async def list_events(request: Request) -> dict:
    return _page(request)


@get("/v2/logs")
async def list_logs(request: Request) -> dict:
    return _page(request)


def _page(request: Request) -> dict:
    found = filters.params(request.query_params.multi_items())
    filters.check_known(found, (*EVENT_FILTERS, "cursor", "count"))
    count = filters.integer(found, "count", PAGE, minimum=1, maximum=MAX_PAGE)
    before = filters.integer(found, "cursor", -1)
    selected = filters.selection(found, EVENT_FILTERS)
    page: list[dict] = []
    cursor = None
    for event in request.app.state.broker.store.events.newest_first(None if before < 0 else before):
        if not selected(filters.Facts(message=event.message, time_ms=event.time_ms, state=event.state)):
            continue
        if len(page) == count:
            cursor = str(event.seq + 1)  # the next page starts at this entry
            break
        page.append(event_view(event))
    answer: dict = {"events": page, "logs": page}
    if cursor is not None:
        answer["cursor"] = cursor
    return answer
