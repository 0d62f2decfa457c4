"""URL groups through the SDK: endpoints upserted and removed, and a publish to the group's
name fanned out, one signed message per endpoint."""

import pytest
from qstash.errors import QStashError

pytestmark = pytest.mark.anyio


async def test_endpoints_are_upserted_listed_and_removed_and_the_last_one_deletes_the_group(
    broker, destination
) -> None:
    urls = broker.client.url_group
    await urls.upsert_endpoints(
        "workers", [{"url": destination.url("/a"), "name": "a"}, {"url": destination.url("/b")}]
    )
    await urls.upsert_endpoints("workers", [{"url": destination.url("/a"), "name": "renamed"}])

    group = await urls.get("workers")
    [listed] = await urls.list()
    await urls.remove_endpoints("workers", [{"name": "renamed"}])
    after_one = await urls.get("workers")
    await urls.remove_endpoints("workers", [{"url": destination.url("/b")}])

    assert [(e.url, e.name) for e in group.endpoints] == [
        (destination.url("/a"), "renamed"),
        (destination.url("/b"), None),
    ]
    assert listed.name == "workers" and listed.created_at <= listed.updated_at
    assert [e.url for e in after_one.endpoints] == [destination.url("/b")]
    assert await urls.list() == []


async def test_a_group_can_be_deleted_and_is_then_not_found(broker, destination) -> None:
    await broker.client.url_group.upsert_endpoints("gone", [{"url": destination.url("/x")}])
    await broker.client.url_group.delete("gone")

    with pytest.raises(QStashError, match="status: 404"):
        await broker.client.url_group.get("gone")
    with pytest.raises(QStashError, match="status: 404"):
        await broker.client.message.publish(url_group="gone", body="x")


async def test_a_publish_to_a_group_sends_one_signed_message_per_endpoint(broker, destination) -> None:
    await broker.client.url_group.upsert_endpoints(
        "fanout", [{"url": destination.url("/one"), "name": "first"}, {"url": destination.url("/two?q=1")}]
    )

    answers = await broker.client.message.publish_json(url_group="fanout", body={"n": 1}, deduplication_id="f-1")
    again = await broker.client.message.publish_json(url_group="fanout", body={"n": 1}, deduplication_id="f-1")

    [one] = await destination.wait_for("/one", 1)
    [two] = await destination.wait_for("/two", 1)
    assert [(a.url, a.deduplicated) for a in answers] == [
        (destination.url("/one"), False),
        (destination.url("/two?q=1"), False),
    ]
    assert [a.message_id for a in again] == [a.message_id for a in answers] and all(a.deduplicated for a in again)
    assert (one.message_id, two.message_id) == (answers[0].message_id, answers[1].message_id)
    assert one.headers["upstash-topic-name"] == two.headers["upstash-topic-name"] == "fanout"
    message = await broker.client.message.get(answers[0].message_id)
    assert (message.url_group, message.endpoint) == ("fanout", "first")


async def test_bad_group_names_endpoints_and_default_headers_are_a_400(broker) -> None:
    with pytest.raises(QStashError, match="status: 400"):
        await broker.client.url_group.upsert_endpoints("bad name", [{"url": "http://127.0.0.1:9/x"}])
    with pytest.raises(QStashError, match="status: 400.*invalid endpoint url"):
        await broker.client.url_group.upsert_endpoints("g", [{"url": "127.0.0.1:9/x"}])
    async with broker.raw() as http:
        patched = await http.patch("/v2/topics/g", json={"headers": {"X": "1"}})
    assert patched.status_code == 400 and "not supported" in patched.json()["error"]
