"""Cancelling by id, by ids and by filter; deleting and retrying DLQ entries by id and filter.

Filters are sent raw where the JS SDK sends them (a query string), and through the Python
SDK where it has the call; every selection takes exactly the matching messages.
"""

import anyio
import pytest
from qstash import AsyncQStash
from qstash.errors import QStashError

pytestmark = pytest.mark.anyio


async def _later(client: AsyncQStash, url: str, label: str | None = None) -> str:
    published = await client.message.publish(url=url, body="x", delay="1h", label=label)
    assert not isinstance(published, list)
    return published.message_id


async def test_a_label_filtered_bulk_cancel_cancels_only_that_label(broker, destination) -> None:
    drop = [await _later(broker.client, destination.url("/d"), "drop-me") for _ in range(2)]
    keep = await _later(broker.client, destination.url("/k"), "keep-me")
    unlabelled = await _later(broker.client, destination.url("/u"))

    async with broker.raw() as http:
        answer = await http.delete("/v2/messages", params={"label": "drop-me", "count": "100"})

    assert (answer.status_code, answer.json()) == (202, {"cancelled": 2})
    pending = broker.state.store.messages
    assert keep in pending and unlabelled in pending
    assert not any(message_id in pending for message_id in drop)


async def test_a_filter_on_a_label_no_message_has_cancels_nothing(broker, destination) -> None:
    kept = await _later(broker.client, destination.url("/k"), "keep-me")

    async with broker.raw() as http:
        answer = await http.delete("/v2/messages?label=drop")

    assert answer.json() == {"cancelled": 0}
    assert kept in broker.state.store.messages


@pytest.mark.parametrize("query", ["lable=drop-me", "label=", "label=x&colour=red", "async=true", "fromDate=yesterday"])
async def test_an_unknown_empty_or_malformed_cancel_filter_is_a_400_and_cancels_nothing(
    broker, destination, query: str
) -> None:
    kept = await _later(broker.client, destination.url("/k"), "drop-me")

    async with broker.raw() as http:
        answer = await http.delete(f"/v2/messages?{query}")

    assert answer.status_code == 400 and "error" in answer.json()
    assert kept in broker.state.store.messages


async def test_cancel_filters_combine_url_and_time_and_take_alternatives(broker, destination) -> None:
    a = await _later(broker.client, destination.url("/a"), "one")
    b = await _later(broker.client, destination.url("/b"), "two")
    c = await _later(broker.client, destination.url("/a"), "three")
    created = broker.state.store.messages[c].created_at_ms

    async with broker.raw() as http:
        by_labels = await http.delete("/v2/messages", params={"label": "one,two", "url": destination.url("/a")})
        by_time = await http.delete("/v2/messages", params={"fromDate": str(created), "host": "127.0.0.1"})

    assert by_labels.json() == {"cancelled": 1}  # a: label one or two, and url /a
    assert by_time.json() == {"cancelled": 1}  # c: created at or after its own creation
    assert list(broker.state.store.messages) == [b]
    assert a not in broker.state.store.messages


async def test_the_sdks_cancel_one_many_and_all(broker, destination) -> None:
    ids = [await _later(broker.client, destination.url(f"/m{n}")) for n in range(5)]

    async with broker.raw() as http:
        one = await http.delete(f"/v2/messages/{ids[0]}")
    many = await broker.client.message.cancel_many(ids[1:3])
    none = await broker.client.message.cancel_many([])
    rest = await broker.client.message.cancel_all()

    assert (one.status_code, one.json()) == (202, {"cancelled": 1})
    assert (many, none, rest) == (2, 0, 2)
    assert broker.state.store.messages == {}
    with pytest.raises(QStashError, match="status: 404"):
        await broker.client.message.cancel(ids[0])


async def test_a_delivered_message_stays_readable_for_the_retention_window(broker, destination) -> None:
    published = await broker.client.message.publish(url=destination.url("/fast"), body="x", label="quick")
    await destination.wait_for("/fast", 1)

    message = await broker.client.message.get(published.message_id)

    assert (message.message_id, message.label) == (published.message_id, "quick")


async def test_finished_messages_are_forgotten_past_the_retention_capacity(start_broker, destination) -> None:
    from service.broker import BrokerConfig

    async with start_broker(BrokerConfig(time_scale=0.001, retention_capacity=2)) as broker:
        ids = [
            (await broker.client.message.publish(url=destination.url("/r"), body=str(n))).message_id for n in range(3)
        ]
        await destination.wait_for("/r", 3)
        with anyio.fail_after(5):
            while any(message_id in broker.state.store.messages for message_id in ids):
                await anyio.sleep(0.005)

        readable = [message_id for message_id in ids if broker.state.store.find(message_id) is not None]

    assert len(readable) == 2


async def _fail_into_dlq(broker, destination, path: str, label: str, count: int = 1) -> list[str]:
    destination.answer(path, (500, {}))
    for _ in range(count):
        await broker.client.message.publish(url=destination.url(path), body="x", retries=0, label=label)
    await destination.wait_for(path, count)
    with anyio.fail_after(5):
        while len([e for e in broker.state.store.dlq.values() if e.message.spec.label == label]) < count:
            await anyio.sleep(0.005)
    return [e.dlq_id for e in broker.state.store.dlq.values() if e.message.spec.label == label]


async def test_dlq_deletes_by_filter_and_all_take_exactly_their_entries(broker, destination) -> None:
    l0 = await _fail_into_dlq(broker, destination, "/l0", "L0", 2)
    l1 = await _fail_into_dlq(broker, destination, "/l1", "L1", 1)

    async with broker.raw() as http:
        by_label = await http.delete("/v2/dlq?label=L0&count=100")
        listed = (await broker.client.dlq.list(filter={"label": "L1"})).messages
        unknown = await http.delete("/v2/dlq?labels=L1")
        everything = await http.delete("/v2/dlq?count=100")

    assert by_label.json() == {"deleted": 2}
    assert [entry.dlq_id for entry in listed] == l1
    assert unknown.status_code == 400
    assert everything.json() == {"deleted": 1}
    assert broker.state.store.dlq == {} and len(l0) == 2


async def test_a_dlq_delete_of_more_than_count_answers_a_cursor_to_go_on_from(broker, destination) -> None:
    await _fail_into_dlq(broker, destination, "/many", "M", 3)

    async with broker.raw() as http:
        first = (await http.delete("/v2/dlq", params={"count": "2"})).json()
        second = (await http.delete("/v2/dlq", params={"count": "2", "cursor": first["cursor"]})).json()

    assert (first["deleted"], second) == (2, {"deleted": 1})


async def test_a_dlq_entry_retried_by_id_is_delivered_again_as_a_new_message(broker, destination) -> None:
    [dlq_id] = await _fail_into_dlq(broker, destination, "/again", "R")
    original = broker.state.store.dlq[dlq_id].message.message_id
    destination.answer("/again", (200, {}))

    async with broker.raw() as http:
        answer = await http.post(f"/v2/dlq/retry/{dlq_id}", headers={"Upstash-Retries": "0"})
    first, second = await destination.wait_for("/again", 2)

    assert answer.status_code == 201
    new_id = answer.json()["messageId"]
    assert new_id != original and second.message_id == new_id and first.message_id == original
    assert (await broker.client.message.get(new_id)).max_retries == 0
    assert broker.state.store.dlq == {}


async def test_dlq_entries_retried_by_ids_or_by_filter_answer_their_new_ids(broker, destination) -> None:
    ids = await _fail_into_dlq(broker, destination, "/bulk", "B", 2)
    [other] = await _fail_into_dlq(broker, destination, "/other", "O")
    destination.answer("/bulk", (200, {}))
    destination.answer("/other", (200, {}))

    async with broker.raw() as http:
        missing = await http.post("/v2/dlq/retry", params={"dlqIds": [ids[0], "0-999"]})
        by_ids = await http.post("/v2/dlq/retry", params={"dlqIds": ids})
        by_body = await http.post("/v2/dlq/retry", json={"label": "O"})

    assert missing.status_code == 404
    assert by_ids.status_code == 201 and len(by_ids.json()["responses"]) == 2
    [retried_other] = by_body.json()["responses"]
    await destination.wait_for("/bulk", 4)
    [_, delivered] = await destination.wait_for("/other", 2)
    assert delivered.message_id == retried_other["messageId"]
    assert broker.state.store.dlq == {} and other
