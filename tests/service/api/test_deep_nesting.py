"""A body nested too deeply to decode is a 400 problem, with a key or without, and never a traceback."""

import logging

import pytest
from litestar.testing import AsyncTestClient

from tests.service.api.conftest import COUNT, Keys, auth, create

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [1_000, 100_000])
@pytest.mark.parametrize("with_key", [True, False], ids=["with key", "without key"])
async def test_a_body_nested_too_deeply_is_a_400_problem(
    client: AsyncTestClient, keys: Keys, caplog: pytest.LogCaptureFixture, depth: int, with_key: bool
) -> None:
    headers = {**JSON, **(auth(keys.acme) if with_key else {})}

    with caplog.at_level(logging.INFO):
        response = await client.post("/v1/jobs", content=b"[" * depth, headers=headers)

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "too deeply" in response.json()["detail"]
    assert not [record for record in caplog.records if record.exc_info or record.levelno >= logging.ERROR]


async def test_nesting_deep_inside_a_valid_job_is_a_400_too(client: AsyncTestClient, keys: Keys) -> None:
    body = b'{"kind": "demo.count", "params": {"total": 1, "deep": ' + nested(5_000) + b"}}"

    response = await client.post("/v1/jobs", content=body, headers={**JSON, **auth(keys.acme)})

    assert response.status_code == 400, response.text
    assert "too deeply" in response.json()["detail"]


async def test_a_hundred_levels_still_decode(client: AsyncTestClient, keys: Keys) -> None:
    body = b'{"kind": "demo.count", "params": {"total": 1, "deep": ' + nested(100) + b"}}"

    response = await client.post("/v1/jobs", content=body, headers={**JSON, **auth(keys.acme)})

    assert "too deeply" not in response.text  # the kind judges its params; the decoder did not refuse them
    assert response.status_code != 500


async def test_a_normal_body_is_still_created(client: AsyncTestClient, keys: Keys) -> None:
    assert (await create(client, keys.acme, COUNT))["status"] == "pending"
