"""A broker and a signature-checking receiver, both served over loopback by uvicorn."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from litestar import Litestar
from qstash import AsyncQStash, Receiver
from qstash.errors import SignatureError

from service.broker import BrokerConfig, create_broker
from service.broker.config import DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY

FAST = 0.001


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Run `app` on an ephemeral loopback port; yields its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        log_level="warning",
        lifespan="auto",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass(frozen=True)
class Delivery:
    path: str
    method: str
    headers: dict[str, str]
    body: bytes

    @property
    def message_id(self) -> str:
        return self.headers["upstash-message-id"]

    @property
    def retried(self) -> int:
        return int(self.headers["upstash-retried"])


@dataclass
class Destination:
    """Verifies every request with the SDK's Receiver, records it, answers as scripted."""

    base_url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    scripts: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    receiver: Receiver = field(default_factory=lambda: Receiver(DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY))

    def url(self, path: str) -> str:
        return self.base_url + path

    def answer(self, path: str, *responses: tuple[int, dict[str, str]]) -> None:
        """Responses for successive calls to `path`; the last one repeats. Default 200."""
        self.scripts[path] = list(responses)

    def to(self, path: str) -> list[Delivery]:
        return [delivery for delivery in self.deliveries if delivery.path == path]

    async def wait_for(self, path: str, count: int, timeout: float = 5.0) -> list[Delivery]:
        with anyio.fail_after(timeout):
            while len(self.to(path)) < count:
                await asyncio.sleep(0.005)
        assert not self.rejected
        return self.to(path)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        path = scope["raw_path"].decode()
        query = scope["query_string"].decode()
        url = self.base_url + path + (f"?{query}" if query else "")
        try:
            self.receiver.verify(
                signature=headers.get("upstash-signature", ""),
                body=body.decode(),
                url=url,
            )
        except SignatureError as error:
            self.rejected.append(f"{url}: {error}")
            await _respond(send, 401, {})
            return
        self.deliveries.append(Delivery(path, scope["method"], headers, body))
        script = self.scripts.get(path) or [(200, {})]
        status, extra = script.pop(0) if len(script) > 1 else script[0]
        await _respond(send, status, extra)


async def read_body(receive: Callable) -> bytes:
    """A request's whole body, from the ASGI messages that carry it."""
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            return body


async def _respond(send: Callable, status: int, headers: dict[str, str]) -> None:
    raw = [(name.encode(), value.encode()) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": f"answered {status}".encode()})


@dataclass
class RunningBroker:
    url: str
    app: Litestar
    client: AsyncQStash

    @property
    def state(self) -> Any:
        return self.app.state.broker

    def raw(self) -> httpx.AsyncClient:
        """A plain HTTP client with the token, for requests the Python SDK does not make."""
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {self.state.config.token}"})


@pytest.fixture
async def destination() -> AsyncIterator[Destination]:
    target = Destination()
    async with serve(target) as base_url:
        target.base_url = base_url
        yield target


@pytest.fixture
def start_broker() -> Callable[..., contextlib.AbstractAsyncContextManager[RunningBroker]]:
    @contextlib.asynccontextmanager
    async def start(config: BrokerConfig | None = None, token: str | None = None) -> AsyncIterator[RunningBroker]:
        config = config or BrokerConfig(time_scale=FAST)
        app = create_broker(config)
        async with serve(app) as url:
            client = AsyncQStash(token or config.token, retry=False, base_url=url)
            try:
                yield RunningBroker(url, app, client)
            finally:
                await client.http._client.aclose()

    return start


@pytest.fixture
async def broker(start_broker) -> AsyncIterator[RunningBroker]:
    async with start_broker() as running:
        yield running
