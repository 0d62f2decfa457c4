"""`jobtrail serve` bounds each request's head: 64 KiB and 100 header fields, else 431.

uvicorn serves HTTP/1.1 with httptools (llhttp), which has no limit of its own: httptools
joins a header's pieces by concatenation as they arrive, so one 64 MiB header took seconds
of CPU and a hundred MB of memory and still reached the app. uvicorn's h11 protocol has a
limit (`h11_max_incomplete_event_size`) but answers 400, and is slower per request. This
subclass keeps httptools and measures the head as bytes arrive, before the parser sees
them: up to the blank line that ends it, its size and its line count. A head over either
bound is answered 431 with a problem document, and the connection is closed.

A head is measured from the first byte read after the previous request ended; with
pipelined requests the part of a head that shares a read with the request before it is
not counted, so a head can pass the bound by at most one read (256 KiB).
"""

import logging

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_FIELDS = 100

_END_OF_HEAD = b"\r\n\r\n"
# The request line and the blank line that ends the head are lines too.
_MAX_HEAD_LINES = MAX_HEADER_FIELDS + 2
_DETAIL = f"the request's headers exceed {MAX_HEADER_BYTES // 1024} KiB or {MAX_HEADER_FIELDS} fields"
_BODY = (
    '{"type":"about:blank","title":"Request Header Fields Too Large","status":431,"detail":"' + _DETAIL + '"}'
).encode()

logger = logging.getLogger("jobtrail.http")


class HeaderLimitedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering 431 to a request head over the bounds."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._refused = False
        self._restart_head()

    def _restart_head(self) -> None:
        self._reading_head = True
        self._head_bytes = 0
        self._head_lines = 0
        self._tail = b""  # the last bytes read, in case the blank line is split across reads

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._reading_head and self._head_overflows(data):
            self._refuse()
            return
        super().data_received(data)

    def _head_overflows(self, data: bytes) -> bool:
        seen = self._tail + data
        end = seen.find(_END_OF_HEAD)
        head = data if end < 0 else data[: max(0, end + len(_END_OF_HEAD) - len(self._tail))]
        self._head_bytes += len(head)
        self._head_lines += head.count(b"\n")
        self._tail = seen[-(len(_END_OF_HEAD) - 1) :]
        return self._head_bytes > MAX_HEADER_BYTES or self._head_lines > _MAX_HEAD_LINES

    def on_headers_complete(self) -> None:
        self._reading_head = False  # first: the app may start, and the body is not the head
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        try:
            super().on_message_complete()
        finally:
            self._restart_head()

    def _refuse(self) -> None:
        self._refused = True
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "unknown"
        logger.warning("request headers too large (431)", extra={"client": client})
        content = [STATUS_LINE[431]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/problem+json\r\n",
                b"content-length: " + str(len(_BODY)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                _BODY,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
