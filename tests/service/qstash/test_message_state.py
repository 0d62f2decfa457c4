"""Whether QStash still holds a message, against the local broker, which (like QStash) keeps
a finished message readable for a while: only a message still waiting or between retries
is held."""

import anyio
import pytest

from service.qstash.message_state import held
from tests.service.broker.conftest import broker, destination, start_broker  # noqa: F401 (fixtures)

pytestmark = pytest.mark.anyio


async def test_a_delivered_message_still_readable_is_not_held(broker, destination) -> None:  # noqa: F811
    published = await broker.client.message.publish(url=destination.url("/done"), body="x")
    await destination.wait_for("/done", 1)

    with anyio.fail_after(5):  # the broker settles the attempt once the answer is read
        while await held(broker.client, published.message_id):
            await anyio.sleep(0.01)
    assert (await broker.client.message.get(published.message_id)).message_id == published.message_id


async def test_a_waiting_message_is_held_until_it_is_cancelled(broker, destination) -> None:  # noqa: F811
    published = await broker.client.message.publish(url=destination.url("/later"), body="x", delay="1h")

    assert await held(broker.client, published.message_id)
    await broker.client.message.cancel(published.message_id)
    assert not await held(broker.client, published.message_id)


async def test_a_message_between_retries_is_held(broker, destination) -> None:  # noqa: F811
    destination.answer("/flaky", (500, {}))
    published = await broker.client.message.publish(url=destination.url("/flaky"), body="x", retries=3)
    await destination.wait_for("/flaky", 1)

    assert await held(broker.client, published.message_id)


async def test_an_unknown_message_is_not_held(broker) -> None:  # noqa: F811
    assert not await held(broker.client, "msg_unknown")
