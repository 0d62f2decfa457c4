"""The message log through the SDK's `log.list` (GET /v2/events) and raw `GET /v2/logs`: each
message's states in order, one DELIVERED per delivered message, filters and cursor paging."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import anyio
import pytest
from qstash import AsyncQStash
from qstash.log import LogState

from service.broker import BrokerConfig

pytestmark = pytest.mark.anyio


async def _states(client: AsyncQStash, message_id: str) -> list[LogState]:
    logs = (await client.log.list(filter={"message_id": message_id})).logs
    return [log.state for log in reversed(logs)]  # oldest first


async def _wait(check: Callable[[], Awaitable[bool]]) -> None:
    with anyio.fail_after(5):
        while not await check():
            await anyio.sleep(0.01)


async def test_a_delivered_message_logs_created_active_delivered_once(broker, destination) -> None:
    published = await broker.client.message.publish(url=destination.url("/ok"), body="x", label="L")
    await destination.wait_for("/ok", 1)

    async def delivered() -> bool:
        return LogState.DELIVERED in await _states(broker.client, published.message_id)

    await _wait(delivered)
    logs = (await broker.client.log.list(filter={"message_id": published.message_id})).logs

    assert [log.state for log in reversed(logs)] == [LogState.CREATED, LogState.ACTIVE, LogState.DELIVERED]
    assert {(log.url, log.label) for log in logs} == {(destination.url("/ok"), "L")}


async def test_a_failing_message_logs_its_errors_retries_and_failure(broker, destination) -> None:
    destination.answer("/down", (500, {}))
    published = await broker.client.message.publish(url=destination.url("/down"), body="x", retries=1, retry_delay="10")
    await destination.wait_for("/down", 2)

    async def failed() -> bool:
        return LogState.FAILED in await _states(broker.client, published.message_id)

    await _wait(failed)
    states = await _states(broker.client, published.message_id)
    errors = (await broker.client.log.list(filter={"message_id": published.message_id, "state": LogState.ERROR})).logs

    assert states == [
        LogState.CREATED,
        LogState.ACTIVE,
        LogState.ERROR,
        LogState.RETRY,
        LogState.ACTIVE,
        LogState.ERROR,
        LogState.FAILED,
    ]
    assert [log.response_status for log in errors] == [500, 500]
    assert errors[0].retry_delay_expression == "10"


async def test_a_cancel_logs_cancel_requested_then_canceled(broker, destination) -> None:
    published = await broker.client.message.publish(url=destination.url("/never"), body="x", delay="1h")
    await broker.client.message.cancel(published.message_id)

    assert await _states(broker.client, published.message_id) == [
        LogState.CREATED,
        LogState.CANCEL_REQUESTED,
        LogState.CANCELED,
    ]


async def test_log_filters_select_exactly_and_pages_follow_the_cursor(broker, destination) -> None:
    before = int(datetime.now(UTC).timestamp() * 1000)
    for n in range(5):
        await broker.client.message.publish(
            url=destination.url(f"/p{n % 2}"), body=str(n), delay="1h", label=f"l{n % 2}"
        )

    first = await broker.client.log.list(count=2, filter={"label": "l0"})
    second = await broker.client.log.list(count=2, cursor=first.cursor, filter={"label": "l0"})
    by_url = (await broker.client.log.list(filter={"url": destination.url("/p1"), "from_time": before})).logs
    async with broker.raw() as http:
        openapi = (await http.get("/v2/logs", params={"state": "CREATED", "label": "l1"})).json()
        unknown = await http.get("/v2/logs", params={"lable": "l1"})
        bad_state = await http.get("/v2/logs", params={"state": "DONE"})

    assert len(first.logs) == 2 and first.cursor is not None
    assert len(second.logs) == 1 and second.cursor is None
    assert {log.message_id for log in first.logs + second.logs} == {
        m.message_id for m in broker.state.store.messages.values() if m.spec.label == "l0"
    }
    assert len(by_url) == 2 and {log.url for log in by_url} == {destination.url("/p1")}
    assert len(openapi["logs"]) == 2 and openapi["logs"] == openapi["events"]
    assert (unknown.status_code, bad_state.status_code) == (400, 400)


async def test_the_log_keeps_only_its_capacity(start_broker, destination) -> None:
    async with start_broker(BrokerConfig(time_scale=0.001, event_capacity=3)) as broker:
        for n in range(4):
            await broker.client.message.publish(url=destination.url("/cap"), body=str(n), delay="1h")

        logs = (await broker.client.log.list()).logs

    assert len(logs) == 3
