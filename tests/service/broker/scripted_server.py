"""A scripted asyncio HTTP server for client tests: it answers byte for byte as a script
says, as servers do, well and badly, and keeps every request it read."""

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Server:
    """Counts connections and keeps every request it read, head and body."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(ConnectionError):
            await self.script(reader, writer)
        writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
            0,
        )
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request

    async def answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answer: bytes) -> None:
        """Read one request, then send `answer` as it is."""
        await self.read_request(reader)
        writer.write(answer)
        await writer.drain()


@contextlib.asynccontextmanager
async def serving(script: Script, tls: ssl.SSLContext | None = None) -> AsyncIterator[tuple[Server, int]]:
    server = Server(script)
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
    try:
        yield server, listening.sockets[0].getsockname()[1]
    finally:
        listening.close()


def unused_port() -> int:
    """A loopback port nothing listens on (bound once, then released): connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
