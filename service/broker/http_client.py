"""The broker's HTTP/1.1 client: one request at a time per connection, kept alive per origin.

A delivery is one small request whose answer the broker reads whole. httpx spent about
1.5 ms of CPU on each on the benchmark machine, some twenty times what an asyncio
stream and a parser cost, and the broker sends every delivery, so httpx was the largest
single cost of a continuation. A delivery needs little of it: no redirects (QStash does
not follow them), cookies, proxies, compression or HTTP/2. Responses are parsed by
httptools, the parser uvicorn uses.

A connection taken from the pool may have been closed by the server meanwhile; when one
fails before a byte of its answer arrived, the request goes once more on a new
connection. At worst the destination then sees the message twice, which QStash's
at-least-once delivery allows and every receiver must handle.
"""

import asyncio
import ssl
from urllib.parse import SplitResult, urlsplit

import httptools
import msgspec

DEFAULT_PORTS = {"http": 80, "https": 443}
READ_SIZE = 64 * 1024


class Response(msgspec.Struct, frozen=True):
    status: int
    headers: list[tuple[str, str]]  # as sent: names in their case, repeats kept
    body: bytes  # at most the client's `max_body` bytes


class HttpError(Exception):
    """No answer: the connection could not be made, broke, or carried no valid HTTP/1.1."""


class _Unanswered(HttpError):
    """The connection ended before the first byte of an answer."""


Origin = tuple[str, str, int]


class _Answer:
    """httptools' callbacks, collecting one response."""

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.parser: httptools.HttpResponseParser | None = None
        self.keep_alive = False
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.headers_done = self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        room = self.max_body - len(self.body)
        if room > 0:
            self.body += body[:room]

    def on_message_complete(self) -> None:
        self.complete = True
        # Only known while the message is being completed: the parser resets after it.
        self.keep_alive = self.parser is not None and self.parser.should_keep_alive()

    def ends_at_close(self) -> bool:
        """A body framed by neither Content-Length nor chunking ends with the connection."""
        names = {name.lower() for name, _ in self.headers}
        return self.headers_done and not names & {"content-length", "transfer-encoding"}


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        self.writer.close()


class HttpClient:
    def __init__(
        self, *, ssl_context: ssl.SSLContext | None = None, max_body: int = 1024 * 1024, max_idle: int = 64
    ) -> None:
        self._ssl = ssl_context
        self._max_body, self._max_idle = max_body, max_idle
        self._idle: dict[Origin, list[_Connection]] = {}

    async def request(
        self, method: str, url: str, *, headers: list[tuple[str, str]], body: bytes, timeout_s: float
    ) -> Response:
        """Send one request and read its whole answer within `timeout_s` (TimeoutError if not)."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise HttpError(f"cannot deliver to {parts.scheme or 'a relative'} URL")
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError as error:  # a port out of range
            raise HttpError(str(error)) from None
        origin = (parts.scheme, parts.hostname, port)
        message = _encode(method, parts, headers, body)
        async with asyncio.timeout(timeout_s):
            connection = self._take(origin)
            if connection is not None:
                try:
                    return await self._exchange(origin, connection, message)
                except _Unanswered:
                    pass  # closed while idle: once more on a new connection
            return await self._exchange(origin, await self._open(origin), message)

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    def _take(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.reader.at_eof() and not connection.writer.is_closing():
                return connection
            connection.close()
        return None

    async def _open(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        tls = (self._ssl or ssl.create_default_context()) if scheme == "https" else None
        try:
            reader, writer = await asyncio.open_connection(host, port, ssl=tls, limit=READ_SIZE)
        except (OSError, ssl.SSLError) as error:
            raise HttpError(f"cannot connect to {host}:{port}: {error}") from None
        return _Connection(reader, writer)

    async def _exchange(self, origin: Origin, connection: _Connection, message: bytes) -> Response:
        answer, parser = _answer_parser(self._max_body)
        received = False
        try:
            connection.writer.write(message)
            await connection.writer.drain()
            while True:
                data = await connection.reader.read(READ_SIZE)
                if not data:
                    break
                received = True
                parser.feed_data(data)
                if answer.complete:
                    status = parser.get_status_code()
                    if 100 <= status < 200:  # an interim answer: the real one follows
                        answer, parser = _answer_parser(self._max_body)
                        continue
                    break
        except httptools.HttpParserError as error:
            connection.close()
            raise HttpError(f"invalid HTTP answer: {error}") from None
        except OSError as error:
            connection.close()
            raise (HttpError if received else _Unanswered)(f"connection lost: {error}") from None
        except BaseException:  # a timeout or a cancellation mid-answer: the connection is spent
            connection.close()
            raise
        if not answer.complete:
            connection.close()
            if not received:
                raise _Unanswered("the server closed the connection without answering")
            if not answer.ends_at_close():
                raise HttpError("the server closed the connection in the middle of its answer")
        elif answer.keep_alive:
            self._keep(origin, connection)
        else:
            connection.close()
        return Response(status=parser.get_status_code(), headers=answer.headers, body=bytes(answer.body))

    def _keep(self, origin: Origin, connection: _Connection) -> None:
        idle = self._idle.setdefault(origin, [])
        if len(idle) < self._max_idle:
            idle.append(connection)
        else:
            connection.close()


def _answer_parser(max_body: int) -> tuple[_Answer, httptools.HttpResponseParser]:
    answer = _Answer(max_body)
    answer.parser = httptools.HttpResponseParser(answer)
    return answer, answer.parser


def _encode(method: str, parts: SplitResult, headers: list[tuple[str, str]], body: bytes) -> bytes:
    if any(c in text for pair in headers for text in pair for c in "\r\n"):
        raise HttpError("a header holds a line break")  # it would start a header of its own
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc.rpartition('@')[2]}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method not in ("GET", "DELETE"):
        lines.append(f"Content-Length: {len(body)}")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    except UnicodeEncodeError:
        raise HttpError("a header holds a character HTTP/1.1 cannot carry") from None
