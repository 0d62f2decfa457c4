"""Refuse a body that is not JSON before anything parses it (415, not a confusing 400)."""

from litestar import Request

from service.api.problems import ProblemError

_JSON_TYPES = ("application/json", "application/problem+json")


async def require_json_body(request: Request) -> None:
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    if request.headers.get("content-length", "0") == "0" and "transfer-encoding" not in request.headers:
        return
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in _JSON_TYPES:
        raise ProblemError(415, f"send the body as application/json (got '{media_type or 'no content type'}')")
