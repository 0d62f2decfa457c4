"""A captured signed delivery sent again, under any Upstash-Message-Id, runs nothing.

The message id is not signed; the token's `jti` is. A token presented before is answered
as a duplicate, in sequence or in parallel, under its own message id or another, and
whether the first attempt succeeded or failed, while QStash's own retries (same message
id, a fresh token) still run.
"""

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from domain.kinds import KindConfig, create_job
from projections.log import Metadata
from service.app import create_app
from service.jobs.batch import Batch, BatchContext
from service.jobs.command_handler import handle
from service.jobs.kinds import Kind
from service.settings import Settings
from service.store.event_store import forget_spent_tokens
from tests.service.api.conftest import concurrently
from tests.service.qstash.conftest import PUBLIC_URL
from tests.service.qstash.test_signatures import claims, count_rows, sign

pytestmark = pytest.mark.anyio

KIND = "replay.count"


class Handler:
    """A kind whose batch counts its calls; it can be told to fail or to take its time."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.failures_left = 0
        self.takes_s = 0.0

    async def run_batch(self, context: BatchContext, cursor: str | None) -> Batch:
        self.calls.append(context.run)
        await asyncio.sleep(self.takes_s)
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("the source is down")
        return Batch(items=[1], next_cursor=None, has_more=False)


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
async def client(database_url: str, tmp_path: Path, handler: Handler) -> AsyncIterator[AsyncTestClient]:
    kind = Kind(name=KIND, config=KindConfig(), params=msgspec.Struct, run_batch=handler.run_batch)
    settings = Settings(database_url=database_url, data_dir=tmp_path, public_url=PUBLIC_URL)
    async with AsyncTestClient(app=create_app(settings, kinds={KIND: kind}, deliveries=False)) as client:
        yield client


async def pending_job(pool) -> uuid.UUID:
    job_id = uuid.uuid4()
    await handle(pool, job_id, create_job(KIND, KindConfig(), owner="acme", at=datetime.now(UTC)), Metadata())
    return job_id


def signed(route: str, body: bytes, message_id: str, retried: int = 0) -> dict[str, str]:
    """One delivery attempt as QStash sends it: a token of its own for this body and route."""
    return {
        "Content-Type": "application/json",
        "Upstash-Signature": sign(claims(body, sub=f"{PUBLIC_URL}{route}")),
        "Upstash-Message-Id": message_id,
        "Upstash-Retried": str(retried),
    }


def run_body(job_id: uuid.UUID) -> bytes:
    return msgspec.json.encode({"job_id": str(job_id), "run": 1})


async def test_the_same_signed_request_under_another_message_id_runs_the_handler_once(client, pool, handler):
    body = run_body(await pending_job(pool))
    captured = signed("/qstash/run", body, "msg_original")
    first = await client.post("/qstash/run", content=body, headers=captured)
    assert (first.status_code, first.json()["outcome"]) == (200, "recorded")
    rows = await count_rows(pool)

    replays = [
        await client.post("/qstash/run", content=body, headers={**captured, "Upstash-Message-Id": f"msg_copy_{n}"})
        for n in range(3)
    ]
    verbatim = await client.post("/qstash/run", content=body, headers=captured)

    assert [(r.status_code, r.json()) for r in replays] == [(200, {"outcome": "replayed_token", "duplicate": True})] * 3
    assert verbatim.json() == {**first.json(), "duplicate": True}  # its message id's recorded answer
    assert handler.calls == [1]
    assert await count_rows(pool) == rows  # no event, and no inbox row for a made-up id


@pytest.mark.parametrize("new_ids", [True, False], ids=["new message ids", "the same message id"])
async def test_parallel_copies_run_the_handler_once(client, pool, handler, new_ids):
    handler.takes_s = 0.5  # every copy arrives while the first is still running
    body = run_body(await pending_job(pool))
    captured = signed("/qstash/run", body, "msg_original")
    copies = [{**captured, "Upstash-Message-Id": f"msg_copy_{n}" if new_ids else "msg_original"} for n in range(5)]

    def deliver(headers: dict[str, str]) -> Callable[[httpx.Client], httpx.Response]:
        return lambda http: http.post("/qstash/run", content=body, headers=headers)

    answers = await concurrently(client, [deliver(headers) for headers in [captured, *copies]])

    outcomes = sorted(r.json()["outcome"] for r in answers)
    assert {r.status_code for r in answers} == {200}
    assert outcomes == ["recorded"] + ["replayed_token"] * 5
    assert handler.calls == [1]


async def test_a_retry_after_a_failed_attempt_runs_again_but_a_copy_of_the_failed_attempt_does_not(
    client, pool, handler
):
    handler.failures_left = 1
    body = run_body(await pending_job(pool))
    failed_attempt = signed("/qstash/run", body, "msg_original")
    failed = await client.post("/qstash/run", content=body, headers=failed_attempt)
    assert (failed.status_code, failed.json()["outcome"]) == (500, "handler_failed")

    copies = [
        await client.post("/qstash/run", content=body, headers={**failed_attempt, "Upstash-Message-Id": "msg_copy"}),
        await client.post("/qstash/run", content=body, headers=failed_attempt),  # verbatim
    ]
    retry = await client.post("/qstash/run", content=body, headers=signed("/qstash/run", body, "msg_original", 1))

    assert [(copy.status_code, copy.json()["outcome"]) for copy in copies] == [(200, "replayed_token")] * 2
    assert (retry.status_code, retry.json()["outcome"]) == (200, "recorded")
    assert handler.calls == [1, 1]  # the failed attempt and QStash's retry


async def test_a_redelivery_of_a_recorded_message_with_a_fresh_token_gets_the_recorded_answer(client, pool, handler):
    body = run_body(await pending_job(pool))
    first = await client.post("/qstash/run", content=body, headers=signed("/qstash/run", body, "msg_original"))

    again = await client.post("/qstash/run", content=body, headers=signed("/qstash/run", body, "msg_original", 1))

    assert again.json() == {**first.json(), "duplicate": True}
    assert handler.calls == [1]


async def test_a_failure_callback_sent_again_under_another_message_id_changes_nothing(client, pool):
    job_id = await pending_job(pool)
    body = msgspec.json.encode({"sourceBody": base64.b64encode(run_body(job_id)).decode(), "status": 500})
    captured = signed("/qstash/failed", body, "msg_callback")
    assert (await client.post("/qstash/failed", content=body, headers=captured)).json()["outcome"] == "job_failed"
    rows = await count_rows(pool)

    copy = await client.post("/qstash/failed", content=body, headers={**captured, "Upstash-Message-Id": "msg_copy"})

    assert (copy.status_code, copy.json()["outcome"]) == (200, "replayed_token")
    assert await count_rows(pool) == rows


async def test_claims_are_forgotten_once_their_tokens_can_no_longer_verify(client, pool, handler):
    body = run_body(await pending_job(pool))
    await client.post("/qstash/run", content=body, headers=signed("/qstash/run", body, "msg_original"))
    async with pool.connection() as conn:
        assert await forget_spent_tokens(conn) == 0  # a fresh claim stays
        await conn.execute("UPDATE delivery_tokens SET claimed_at = now() - interval '16 minutes'")
        assert await forget_spent_tokens(conn) == 1
