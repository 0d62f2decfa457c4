"""Injected faults: at-least-once duplicates and reordering, as real QStash may do."""

import time

import pytest

from service.broker import BrokerConfig, Faults

pytestmark = pytest.mark.anyio


async def test_duplicate_deliveries_send_each_message_twice_with_the_same_id(start_broker, destination) -> None:
    config = BrokerConfig(time_scale=0.001, faults=Faults(duplicate_deliveries=True))
    async with start_broker(config) as broker:
        published = await broker.client.message.publish(url=destination.url("/twice"), body="x")

        first, second = await destination.wait_for("/twice", 2)

    assert first.message_id == second.message_id == published.message_id
    assert (first.retried, second.retried) == (0, 0)


async def test_shuffle_delivers_messages_due_together_in_random_order(start_broker, destination) -> None:
    config = BrokerConfig(time_scale=1.0, faults=Faults(shuffle=True))
    async with start_broker(config) as broker:
        not_before = int(time.time()) + 2  # one due instant for all, at least a second away
        for n in range(20):
            await broker.client.message.publish(url=destination.url("/many"), body=str(n), not_before=not_before)

        deliveries = await destination.wait_for("/many", 20)

    received = [int(delivery.body) for delivery in deliveries]
    assert sorted(received) == list(range(20))
    assert received != list(range(20))
