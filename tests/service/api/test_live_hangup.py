"""A live stream's client that hangs up leaves nothing behind in the process's event feed.

The app is served by uvicorn over loopback in the test's own loop (an in-process test
client buffers whole responses, so it cannot hang up mid-stream), and its feed is read
directly: the registry of open streams must shrink back to empty.
"""

import asyncio

import httpx
import pytest
import uvicorn
from litestar import Litestar

from tests.service.api.conftest import COUNT, Keys, auth

pytestmark = pytest.mark.anyio

HANGUPS = 20


async def test_streams_whose_clients_hang_up_leave_no_registration(app: Litestar, keys: Keys) -> None:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for _ in range(HANGUPS):
                job = (await http.post("/v1/jobs", json=COUNT, headers=auth(keys.acme))).json()["id"]
                await hang_up_after_first_message(http, f"/v1/jobs/{job}/watch", keys.acme)
                await hang_up_after_first_message(http, "/v1/events/stream", keys.auditor)
            registry = app.state.event_feed._subscriptions  # stream id -> its open streams
            async with asyncio.timeout(5):
                while registry:
                    await asyncio.sleep(0.02)
    finally:
        server.should_exit = True
        await serving


async def hang_up_after_first_message(http: httpx.AsyncClient, path: str, key: str) -> None:
    async with http.stream("GET", path, headers=auth(key)) as stream:
        assert stream.status_code == 200
        async for line in stream.aiter_lines():
            if line.startswith(("data:", "id:")):
                return
