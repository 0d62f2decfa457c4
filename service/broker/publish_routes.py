"""`POST /v2/publish/{destination}` (§2): to a URL, or to every endpoint of a URL group."""

from litestar import Request, Response, post
from litestar.params import FromPath

from service.broker.destination import destination
from service.broker.edge import caller_ip, raw_headers
from service.broker.routing import send


@post("/v2/publish/{rest:path}", status_code=200)
async def publish(request: Request, rest: FromPath[str]) -> Response:
    target, query_config = destination(request.scope, "/v2/publish/", url_groups=True)
    broker = request.app.state.broker
    sent = send(
        broker.publisher,
        broker.store,
        target,
        [*raw_headers(request), *query_config.items()],
        await request.body(),
        caller_ip(request),
    )
    return Response(sent.answer, status_code=202 if sent.deduplicated else 200)
