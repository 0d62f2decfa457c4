"""`POST /v2/batch` through the SDK's `batch`/`batch_json`: answers in request order, per-item
headers honoured, a failing item answered alone while the others go out."""

import json

import pytest

pytestmark = pytest.mark.anyio


async def test_a_batch_answers_in_order_and_delivers_each_item_with_its_own_headers(broker, destination) -> None:
    await broker.client.url_group.upsert_endpoints(
        "pair", [{"url": destination.url("/g1")}, {"url": destination.url("/g2")}]
    )
    answers = await broker.client.message.batch_json(
        [
            {"url": destination.url("/plain"), "body": {"n": 0}, "headers": {"X-Item": "0"}},
            {"url": destination.url("/later"), "body": {"n": 1}, "delay": "2m", "label": "batched", "retries": 1},
            {"url_group": "pair", "body": {"n": 2}},
            {
                "url": destination.url("/plain"),
                "body": {"n": 3},
                "deduplication_id": "once",
                "callback": destination.url("/cb"),
            },
        ]
    )
    again = await broker.client.message.batch_json(
        [{"url": destination.url("/plain"), "body": {"n": 3}, "deduplication_id": "once"}]
    )

    first, fourth = sorted(await destination.wait_for("/plain", 2), key=lambda d: json.loads(d.body)["n"])
    [later] = await destination.wait_for("/later", 1)
    await destination.wait_for("/g1", 1)
    await destination.wait_for("/g2", 1)
    await destination.wait_for("/cb", 1)
    assert first.message_id == answers[0].message_id and first.headers["x-item"] == "0"
    assert later.message_id == answers[1].message_id
    stored = await broker.client.message.get(answers[1].message_id)
    assert (stored.label, stored.max_retries) == ("batched", 1)
    assert [item.url for item in answers[2]] == [destination.url("/g1"), destination.url("/g2")]
    assert fourth.message_id == answers[3].message_id
    assert (again[0].message_id, again[0].deduplicated) == (answers[3].message_id, True)


async def test_a_failing_item_gets_its_own_error_and_the_others_are_sent(broker, destination) -> None:
    items = [
        {"destination": destination.url("/ok"), "headers": {}, "body": "a", "queue": None},
        {"destination": "not a url", "headers": {}, "body": "b", "queue": None},
        {"destination": destination.url("/ok"), "headers": {"Upstash-Retries": "-1"}, "body": "c", "queue": None},
        {"destination": "no-such-group", "headers": {}, "body": "d", "queue": None},
        {"destination": destination.url("/ok"), "headers": {}, "body": "e", "queue": None},
    ]
    async with broker.raw() as http:
        answer = await http.post("/v2/batch", json=items)
        empty = await http.post("/v2/batch", json=[])

    results = answer.json()
    assert answer.status_code == 200 and len(results) == 5
    assert "invalid destination url" in results[1]["error"]
    assert "Upstash-Retries" in results[2]["error"]
    assert "not found" in results[3]["error"]
    delivered = await destination.wait_for("/ok", 2)
    assert sorted(d.message_id for d in delivered) == sorted([results[0]["messageId"], results[4]["messageId"]])
    assert empty.status_code == 400
