"""The real app on a fresh database, and API keys for each owner and scope a test needs.

`AsyncTestClient` runs the app (and its lifespan: migrate, open the pool) on a portal
thread and answers each request synchronously, so `asyncio.gather` on it sends requests
one after another. `concurrently` sends them from threads instead, for real races.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from litestar.testing.transport import TestClientTransport
from psycopg_pool import AsyncConnectionPool

from service.app import create_app
from service.auth.keys import Scope, create_key
from service.settings import Settings

COUNT = {"kind": "demo.count", "params": {"total": 40}}


@dataclass(frozen=True)
class Keys:
    acme: str  # jobs:read jobs:write
    acme_read: str  # jobs:read
    acme_write: str  # jobs:write
    globex: str  # jobs:read jobs:write, another tenant
    auditor: str  # audit:read, owner "audit"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Litestar:
    return create_app(Settings(database_url=database_url, data_dir=tmp_path), deliveries=False)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest.fixture
async def keys(pool: AsyncConnectionPool) -> Keys:
    async with pool.connection() as conn:
        return Keys(
            acme=await create_key(conn, "acme", (Scope.JOBS_READ, Scope.JOBS_WRITE)),
            acme_read=await create_key(conn, "acme", (Scope.JOBS_READ,)),
            acme_write=await create_key(conn, "acme", (Scope.JOBS_WRITE,)),
            globex=await create_key(conn, "globex", (Scope.JOBS_READ, Scope.JOBS_WRITE)),
            auditor=await create_key(conn, "audit", (Scope.AUDIT_READ,)),
        )


async def create(client: AsyncTestClient, key: str, body: dict[str, Any] = COUNT, /, **headers: str) -> dict[str, Any]:
    """Create a job and return its document, insisting on 201."""
    response = await client.post("/v1/jobs", json=body, headers={**auth(key), **headers})
    assert response.status_code == 201, response.text
    return response.json()


class _ThreadTransport(httpx.BaseTransport):
    """Sends a request to the running app from whichever thread calls it."""

    def __init__(self, client: AsyncTestClient) -> None:
        self._app = TestClientTransport(client=client, raise_server_exceptions=True, root_path="")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._app.handle_request(request)


async def concurrently(
    client: AsyncTestClient, calls: Sequence[Callable[[httpx.Client], httpx.Response]]
) -> list[httpx.Response]:
    """Run each call at the same time, each on its own thread, against the running app."""
    loop = asyncio.get_running_loop()
    with (
        httpx.Client(transport=_ThreadTransport(client), base_url=client.base_url) as sync,
        ThreadPoolExecutor(max_workers=len(calls)) as threads,
    ):
        return list(await asyncio.gather(*(loop.run_in_executor(threads, call, sync) for call in calls)))
