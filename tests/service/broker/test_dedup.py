"""The deduplication memory stays bounded: by its window, by its capacity and per key.

Publishes go through the Publisher with a clock the test moves, so nothing waits.
"""

import tracemalloc

from service.broker.config import BrokerConfig
from service.broker.publishing import Publisher
from service.broker.records import MessageSpec
from service.broker.store import Store

WINDOW_S = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def publisher(clock: Clock, capacity: int = 10_000) -> Publisher:
    config = BrokerConfig(dedup_window_s=WINDOW_S, dedup_capacity=capacity)
    return Publisher(Store(), config, clock)


def spec(deduplication_id: str) -> MessageSpec:
    return MessageSpec(url="http://127.0.0.1:1/run", body=b"{}", deduplication_id=deduplication_id)


def test_a_key_is_a_duplicate_within_its_window_and_new_after_it() -> None:
    clock = Clock()
    broker = publisher(clock)
    first = broker.publish(spec("run-1"))
    clock.now += WINDOW_S - 0.1
    again = broker.publish(spec("run-1"))
    clock.now += 0.2
    after = broker.publish(spec("run-1"))

    assert (again.deduplicated, again.message_id) == (True, first.message_id)
    assert not after.deduplicated and after.message_id != first.message_id


def test_expired_keys_are_dropped_as_time_passes() -> None:
    clock = Clock()
    broker = publisher(clock)
    for n in range(300):
        broker.publish(spec(f"old-{n}"))
    clock.now += WINDOW_S
    broker.publish(spec("new"))

    assert len(broker.dedup) == 1


def test_a_key_published_again_after_its_window_is_kept_a_whole_window_from_then() -> None:
    clock = Clock()
    broker = publisher(clock)
    broker.publish(spec("a"))
    clock.now += WINDOW_S / 2
    broker.publish(spec("b"))
    clock.now += WINDOW_S / 2 + 0.1  # a has expired, b has not
    renewed = broker.publish(spec("a"))
    clock.now += WINDOW_S / 2  # b has expired, the renewed a has not

    assert broker.publish(spec("a")).message_id == renewed.message_id
    assert not broker.publish(spec("b")).deduplicated


def test_past_its_capacity_the_oldest_keys_are_forgotten_first() -> None:
    clock = Clock()
    broker = publisher(clock, capacity=100)
    for n in range(1000):
        broker.publish(spec(f"run-{n}"))
        clock.now += 0.001  # all well within the window

    assert len(broker.dedup) == 100
    assert broker.publish(spec("run-999")).deduplicated
    assert broker.publish(spec("run-900")).deduplicated
    assert not broker.publish(spec("run-899")).deduplicated


def test_a_long_deduplication_id_costs_no_more_than_a_short_one() -> None:
    clock = Clock()
    broker = publisher(clock)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(500):
            key = f"{n:05d}" + "x" * 20_000
            broker.dedup.remember("id:" + key, f"msg_{n}", clock.now)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert held < 500 * 400  # bytes a key, message id and bookkeeping; the ids alone are 10 MB
