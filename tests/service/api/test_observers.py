"""Every job route that commands hands the app's observers to the command handler."""

import asyncio

import pytest
from litestar.testing import AsyncTestClient

from tests.service.api.conftest import COUNT, Keys, auth, create
from tests.service.scraped import appends_counted

pytestmark = pytest.mark.anyio


async def test_create_cancel_a_timing_out_read_and_retry_each_count_their_append(
    client: AsyncTestClient, keys: Keys
) -> None:
    cancelled = await create(client, keys.acme)
    response = await client.post(f"/v1/jobs/{cancelled['id']}/cancel", json={}, headers=auth(keys.acme))
    assert response.status_code == 200, response.text
    overdue = await create(client, keys.acme, {**COUNT, "deadline_s": 0.05})
    await asyncio.sleep(0.1)
    read = await client.get(f"/v1/jobs/{overdue['id']}", headers=auth(keys.acme))
    assert read.json()["status"] == "timeout"
    response = await client.post(f"/v1/jobs/{overdue['id']}/retry", json={}, headers=auth(keys.acme))
    assert response.status_code == 200, response.text
    assert await appends_counted(client) == 5
