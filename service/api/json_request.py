"""Bodies nested too deeply to decode are the client's 400, not a RecursionError and a 500.

msgspec decodes JSON recursively and, past the interpreter's recursion limit (under 1,000
levels of `[` or `{`, fewer the deeper the server's own call stack), raises RecursionError
rather than DecodeError; Litestar lets that through as an unexpected error. Litestar decodes
a route's body (`Request.json`) before any dependency runs, so before the API key is
checked: the answer is the same with a key or without one. The QStash routes decode their
verified bodies themselves and say the same (service/api/qstash.py).
"""

from typing import Any

from litestar import Request

from service.api.problems import ProblemError

NESTED_TOO_DEEPLY = "the request body nests arrays or objects too deeply to decode (keep it under 100 levels)"


class JSONRequest(Request):
    """The app's request class: a JSON body nested past what the decoder follows is a 400."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise ProblemError(400, NESTED_TOO_DEEPLY) from None
