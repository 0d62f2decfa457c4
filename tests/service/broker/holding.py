"""A destination that holds every request until told to answer, counting what it holds at once."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from tests.service.broker.conftest import read_body


@dataclass
class Holding:
    base_url: str = ""
    in_flight: int = 0
    most_in_flight: int = 0
    arrived: list[str] = field(default_factory=list)  # message ids, in the order their calls came
    answered: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return self.base_url + path

    async def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        with anyio.fail_after(timeout):
            while not condition():
                await asyncio.sleep(0.005)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive)
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        self.arrived.append(headers.get("upstash-message-id", ""))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.released.wait()
        finally:
            self.in_flight -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        self.answered += 1
