"""Queues through the SDK: FIFO one at a time, each message settled (retries and callbacks)
before the next, parallelism, the queues API, and schedules that fire into a queue."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from qstash.errors import QStashError

from tests.service.broker.conftest import serve
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


async def test_a_queue_delivers_in_order_and_the_next_waits_for_the_last_retry(broker, destination) -> None:
    destination.answer("/fifo", (500, {}), (500, {}), (200, {}))
    ids = [
        (await broker.client.message.enqueue(queue="orders", url=destination.url("/fifo"), body=str(n))).message_id
        for n in range(5)
    ]

    deliveries = await destination.wait_for("/fifo", 7)

    assert [d.message_id for d in deliveries] == [ids[0], ids[0], ids[0], *ids[1:]]
    assert [d.retried for d in deliveries[:3]] == [0, 1, 2]
    assert [int(d.body) for d in deliveries[2:]] == list(range(5))


async def test_the_next_message_waits_until_the_callbacks_of_the_last_have_settled(broker, destination) -> None:
    destination.answer("/callback", (500, {}), (200, {}))
    for n in range(2):
        await broker.client.message.enqueue(
            queue="reports", url=destination.url("/work"), body=str(n), callback=destination.url("/callback")
        )

    await destination.wait_for("/work", 2)
    await destination.wait_for("/callback", 3)

    order = [(d.path, d.body if d.path == "/work" else d.retried) for d in destination.deliveries]
    assert order == [("/work", b"0"), ("/callback", 0), ("/callback", 1), ("/work", b"1"), ("/callback", 0)]


async def test_a_queue_of_parallelism_two_runs_two_at_once(broker, holding) -> None:
    await broker.client.queue.upsert("pair", parallelism=2)
    for n in range(6):
        await broker.client.message.enqueue_json(queue="pair", url=holding.url("/pair"), body={"n": n})

    await holding.until(lambda: holding.in_flight == 2)
    lag = (await broker.client.queue.get("pair")).lag
    holding.released.set()
    await holding.until(lambda: holding.answered == 6)

    assert lag == 4
    assert holding.most_in_flight == 2


async def test_a_paused_queue_keeps_its_messages_until_resumed(broker, destination) -> None:
    await broker.client.queue.upsert("held", parallelism=1, paused=True)
    for n in range(3):
        await broker.client.message.enqueue(queue="held", url=destination.url("/held"), body=str(n))
    await broker.client.message.publish(url=destination.url("/free"), body="x")

    await destination.wait_for("/free", 1)
    paused = await broker.client.queue.get("held")
    assert (paused.paused, paused.lag) == (True, 3)
    assert destination.to("/held") == []
    await broker.client.queue.resume("held")

    deliveries = await destination.wait_for("/held", 3)
    assert [int(d.body) for d in deliveries] == [0, 1, 2]
    assert (await broker.client.queue.get("held")).lag == 0


async def test_queues_are_created_by_enqueue_listed_updated_paused_and_deleted(broker, destination) -> None:
    published = await broker.client.message.enqueue(queue="auto", url=destination.url("/auto"), body="x")
    await destination.wait_for("/auto", 1)
    await broker.client.queue.upsert("bulk", parallelism=3)
    await broker.client.queue.pause("bulk")

    auto, bulk = await broker.client.queue.list()
    assert (auto.name, auto.parallelism, auto.paused, auto.lag) == ("auto", 1, False, 0)
    assert (bulk.name, bulk.parallelism, bulk.paused) == ("bulk", 3, True)
    assert bulk.updated_at >= bulk.created_at
    await broker.client.queue.delete("auto")
    with pytest.raises(QStashError, match="status: 404"):
        await broker.client.queue.get("auto")
    assert [queue.name for queue in await broker.client.queue.list()] == ["bulk"]
    assert published.message_id.startswith("msg_")


async def test_deleting_a_queue_cancels_its_waiting_messages(broker, destination) -> None:
    await broker.client.queue.upsert("doomed", paused=True)
    published = await broker.client.message.enqueue(queue="doomed", url=destination.url("/doomed"), body="x")

    await broker.client.queue.delete("doomed")

    async with broker.raw() as http:
        log = (await http.get("/v2/events", params={"messageId": published.message_id})).json()
        again = await http.delete(f"/v2/messages/{published.message_id}")
    assert log["events"][0]["state"] == "CANCELED"
    assert again.status_code == 404  # no longer pending: nothing left to cancel


async def test_an_enqueued_message_shows_its_queue(broker, destination) -> None:
    await broker.client.queue.upsert("shown", paused=True)
    published = await broker.client.message.enqueue(queue="shown", url=destination.url("/shown"), body="x")

    assert (await broker.client.message.get(published.message_id)).queue == "shown"


async def test_an_invalid_queue_name_is_refused(broker, destination) -> None:
    with pytest.raises(QStashError, match="status: 400"):
        await broker.client.message.enqueue(queue="bad name!", url=destination.url("/x"), body="x")


async def test_a_schedule_with_a_queue_fires_its_messages_into_that_queue(broker, destination) -> None:
    await broker.client.queue.upsert("nightly", paused=True)
    schedule_id = await broker.client.schedule.create(
        destination=destination.url("/nightly"), cron="0 3 * * *", queue="nightly"
    )

    fired = broker.state.scheduler.trigger_due(datetime(2030, 1, 1, 3, 0, tzinfo=UTC))
    fired += broker.state.scheduler.trigger_due(datetime(2030, 1, 2, 3, 0, tzinfo=UTC))

    assert (await broker.client.schedule.get(schedule_id)).queue == "nightly"
    assert (await broker.client.queue.get("nightly")).lag == 2
    assert [(await broker.client.message.get(message_id)).queue for message_id in fired] == ["nightly"] * 2
    await broker.client.queue.resume("nightly")
    deliveries = await destination.wait_for("/nightly", 2)
    assert [d.message_id for d in deliveries] == fired


async def test_a_batch_item_with_a_queue_waits_in_that_queue_and_filters_find_it(broker, destination) -> None:
    await broker.client.queue.upsert("batched", paused=True)
    async with broker.raw() as http:
        answer = await http.post(
            "/v2/batch",
            json=[
                {"destination": destination.url("/q"), "headers": {}, "body": "queued", "queue": "batched"},
                {"destination": destination.url("/q"), "headers": {}, "body": "free"},
            ],
        )
        queued, free = (item["messageId"] for item in answer.json())
        await destination.wait_for("/q", 1)
        cancelled = await http.delete("/v2/messages", params={"queueName": "batched"})

    assert (await broker.client.message.get(queued)).queue == "batched"
    assert [d.message_id for d in destination.to("/q")] == [free]
    assert cancelled.json() == {"cancelled": 1}
