"""Each request's id (the client's X-Request-ID, or a new one), echoed back and bound for logs.

The id and, on job routes, the job id are bound as structlog contextvars, so every line
the request causes carries them, whichever logger writes it. Each request runs in its
own task, on its own copy of the context, so nothing bound here outlives it or needs
clearing. Litestar runs middleware after routing, so the path's `job_id` is already
parsed. The id is also kept in the request's state, where the routes read it for the
provenance of the events they append. A new id is 128 random bits from `random`, not
`uuid4`: an id needs to be unique, not unguessable, and os.urandom is a system call per
request.
"""

import random
import re

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
# An id we may log and echo as it is; anything else (too long, control characters) is replaced.
_PRINTABLE_ID = re.compile(r"[\w.:=+/-]{1,128}")


def request_context(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request_id = _client_id(scope) or f"{random.getrandbits(128):032x}"
        scope.setdefault("state", {})["request_id"] = request_id
        job_id = scope["path_params"].get("job_id")
        if job_id is None:
            structlog.contextvars.bind_contextvars(request_id=request_id)
        else:
            structlog.contextvars.bind_contextvars(request_id=request_id, job_id=str(job_id))
        echoed = (HEADER, request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        await app(scope, receive, send_with_id)

    return middleware


def _client_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == HEADER:
            text = value.decode("latin-1")
            return text if _PRINTABLE_ID.fullmatch(text) else None
    return None
