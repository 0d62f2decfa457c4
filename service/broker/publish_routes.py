"""`POST /v2/publish/{destination}` (§2)."""

from litestar import Request, Response, post
from litestar.params import FromPath

from service.broker.destination import destination
from service.broker.edge import caller_ip, raw_headers
from service.broker.headers import parse_spec


@post("/v2/publish/{rest:path}", status_code=200)
async def publish(request: Request, rest: FromPath[str]) -> Response:
    url, query_config = destination(request.scope, "/v2/publish/")
    spec = parse_spec(url, [*raw_headers(request), *query_config.items()], await request.body())
    result = request.app.state.broker.publisher.publish(spec, caller_ip=caller_ip(request))
    if result.deduplicated:
        return Response({"messageId": result.message_id, "deduplicated": True}, status_code=202)
    return Response({"messageId": result.message_id}, status_code=200)
