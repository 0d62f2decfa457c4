"""Flow control through the SDK: per key parallelism and rate, a waitlist that never refuses,
pause and resume, pin and unpin, reset, and the global parallelism."""

import time
from collections.abc import AsyncIterator

import pytest
from qstash.errors import QStashError

from service.broker import BrokerConfig
from tests.service.broker.conftest import FAST, serve
from tests.service.broker.holding import Holding

pytestmark = pytest.mark.anyio


@pytest.fixture
async def holding() -> AsyncIterator[Holding]:
    target = Holding()
    async with serve(target) as base_url:
        target.base_url = base_url
        try:
            yield target
        finally:
            target.released.set()


async def test_a_key_runs_at_most_its_parallelism_and_the_rest_wait_without_being_refused(broker, holding) -> None:
    flow = {"key": "crawl", "parallelism": 2}
    for n in range(8):
        await broker.client.message.publish(url=holding.url("/run"), body=str(n), flow_control=flow)

    await holding.until(lambda: holding.in_flight == 2)
    info = await broker.client.flow_control.get("crawl")
    assert (info.parallelism_max, info.parallelism_count, info.wait_list_size) == (2, 2, 6)
    holding.released.set()
    await holding.until(lambda: holding.answered == 8)

    assert holding.most_in_flight == 2
    assert (await broker.client.flow_control.get("crawl")).parallelism_count == 0


async def test_a_rate_starts_that_many_calls_a_period_and_a_reset_begins_a_new_period(broker, destination) -> None:
    flow = {"key": "hourly", "rate": 3, "period": "1h"}
    for n in range(7):
        await broker.client.message.publish(url=destination.url("/rate"), body=str(n), flow_control=flow)

    await destination.wait_for("/rate", 3)
    info = await broker.client.flow_control.get("hourly")
    assert (info.rate_max, info.rate_count, info.rate_period, info.wait_list_size) == (3, 3, 3600, 4)
    await broker.client.flow_control.reset_rate("hourly")
    await destination.wait_for("/rate", 6)
    assert (await broker.client.flow_control.get("hourly")).wait_list_size == 1
    await broker.client.flow_control.reset_rate("hourly")
    deliveries = await destination.wait_for("/rate", 7)

    assert sorted(int(delivery.body) for delivery in deliveries) == list(range(7))


async def test_a_rate_per_second_spreads_calls_over_periods(broker, destination) -> None:
    flow = {"key": "per-second", "rate": 2, "period": 1}
    for n in range(5):
        await broker.client.message.publish(url=destination.url("/paced"), body=str(n), flow_control=flow)
    first_seen = time.monotonic()

    await destination.wait_for("/paced", 5, timeout=15)

    # Five calls at two a period need three periods: the last starts two periods after the first.
    assert time.monotonic() - first_seen >= 2.0 - 0.1


async def test_a_paused_key_holds_its_messages_and_resuming_releases_them(broker, destination) -> None:
    await broker.client.flow_control.pause("tenant-a")
    flow = {"key": "tenant-a", "parallelism": 5}
    for n in range(3):
        await broker.client.message.publish(url=destination.url("/held"), body=str(n), flow_control=flow)
    await broker.client.message.publish(url=destination.url("/free"), body="x")

    await destination.wait_for("/free", 1)
    info = await broker.client.flow_control.get("tenant-a")
    assert (info.is_paused, info.wait_list_size) == (True, 3)
    assert destination.to("/held") == []
    await broker.client.flow_control.resume("tenant-a")

    assert len(await destination.wait_for("/held", 3)) == 3
    assert not (await broker.client.flow_control.get("tenant-a")).is_paused


async def test_a_pinned_parallelism_outlasts_what_messages_ask_until_unpinned(broker, destination) -> None:
    url = destination.url("/pinned")
    await broker.client.message.publish(url=url, body="1", flow_control={"key": "p", "parallelism": 5})
    await broker.client.flow_control.pin("p", {"parallelism": 1, "rate": 10, "period": 60})
    await broker.client.message.publish(url=url, body="2", flow_control={"key": "p", "parallelism": 7})
    pinned = await broker.client.flow_control.get("p")
    await broker.client.flow_control.unpin("p", {"parallelism": True})
    await broker.client.message.publish(url=url, body="3", flow_control={"key": "p", "parallelism": 7, "rate": 4})
    unpinned = await broker.client.flow_control.get("p")

    assert (pinned.parallelism_max, pinned.rate_max, pinned.rate_period) == (1, 10, 60)
    assert (pinned.is_pinned_parallelism, pinned.is_pinned_rate) == (True, True)
    assert (unpinned.parallelism_max, unpinned.rate_max, unpinned.is_pinned_parallelism) == (7, 10, False)
    await destination.wait_for("/pinned", 3)


async def test_a_retry_waiting_for_its_backoff_leaves_its_key_free_for_others(broker, destination) -> None:
    destination.answer("/first", (500, {}), (200, {}))
    flow = {"key": "one-at-a-time", "parallelism": 1}
    failing = await broker.client.message.publish(
        url=destination.url("/first"), body="a", flow_control=flow, retry_delay="60000"
    )
    await destination.wait_for("/first", 1)
    other = await broker.client.message.publish(url=destination.url("/second"), body="b", flow_control=flow)

    [delivered] = await destination.wait_for("/second", 1)
    [_, retried] = await destination.wait_for("/first", 2)

    assert delivered.message_id == other.message_id
    assert (retried.message_id, retried.retried) == (failing.message_id, 1)


async def test_a_message_shows_the_flow_control_it_was_published_with(broker, destination) -> None:
    await broker.client.flow_control.pause("shown")
    published = await broker.client.message.publish(
        url=destination.url("/shown"), body="x", flow_control={"key": "shown", "parallelism": 2, "rate": 9}
    )

    message = await broker.client.message.get(published.message_id)
    [listed] = [key for key in await _list(broker) if key["flowControlKey"] == "shown"]

    assert message.flow_control is not None
    assert (message.flow_control.key, message.flow_control.parallelism, message.flow_control.rate) == ("shown", 2, 9)
    assert message.flow_control.period == 1
    assert (listed["waitListSize"], listed["isPaused"]) == (1, True)


async def test_a_flow_control_key_without_limits_or_unknown_is_refused(broker, destination) -> None:
    with pytest.raises(QStashError, match="status: 400.*rate=X or parallelism=Y"):
        await broker.client.message.publish(url=destination.url("/x"), body="x", flow_control={"key": "k"})
    with pytest.raises(QStashError, match="status: 400"):
        await broker.client.message.publish(
            url=destination.url("/x"), body="x", flow_control={"key": "k", "parallelism": 0}
        )
    with pytest.raises(QStashError, match="status: 404"):
        await broker.client.flow_control.get("never-used")


async def test_the_global_parallelism_caps_calls_across_keys(start_broker, holding) -> None:
    async with start_broker(BrokerConfig(time_scale=FAST, global_parallelism=2)) as broker:
        for n in range(3):
            await broker.client.message.publish(url=holding.url("/any"), body=str(n))
        await broker.client.message.publish(
            url=holding.url("/keyed"), body="k", flow_control={"key": "k", "parallelism": 9}
        )

        await holding.until(lambda: holding.in_flight == 2)
        info = await broker.client.flow_control.get_global_parallelism()
        holding.released.set()
        await holding.until(lambda: holding.answered == 4)

    assert (info.parallelism_max, info.parallelism_count) == (2, 2)
    assert holding.most_in_flight == 2


async def _list(broker) -> list[dict]:
    """The SDK 3.4.0 has no list: asked over its HTTP client."""
    return await broker.client.http.request(path="/v2/flowControl", method="GET")
