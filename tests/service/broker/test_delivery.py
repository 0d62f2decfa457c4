"""Publish through the real SDK, receive signed deliveries, retry, fail into the DLQ."""

import base64
import json
import time

import anyio
import jwt
import pytest
from qstash import AsyncQStash
from qstash.errors import QStashError

from service.broker.config import DEV_CURRENT_SIGNING_KEY

pytestmark = pytest.mark.anyio


async def test_a_published_json_message_is_delivered_once_signed_for_its_url(broker, destination) -> None:
    url = destination.url("/hook?a=1&b=two%20x")
    published = await broker.client.message.publish_json(url=url, body={"job": 7})

    [delivery] = await destination.wait_for("/hook", 1)

    assert delivery.message_id == published.message_id
    assert delivery.retried == 0
    assert json.loads(delivery.body) == {"job": 7}
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["user-agent"] == "Upstash-QStash"
    claims = jwt.decode(
        delivery.headers["upstash-signature"],
        DEV_CURRENT_SIGNING_KEY,
        algorithms=["HS256"],
        issuer="Upstash",
    )
    assert claims["sub"] == url
    assert claims["exp"] == claims["iat"] + 300
    assert claims["jti"].startswith("jwt_")
    assert claims["body"].endswith("=")


async def test_forwarded_headers_arrive_without_their_prefix(broker, destination) -> None:
    await broker.client.message.publish(
        url=destination.url("/forward"),
        body="x",
        content_type="text/plain",
        headers={"X-Trace": "abc", "X-Tenant": "t1"},
    )

    [delivery] = await destination.wait_for("/forward", 1)

    assert delivery.headers["x-trace"] == "abc"
    assert delivery.headers["x-tenant"] == "t1"
    assert delivery.headers["content-type"] == "text/plain"
    assert not any(name.startswith("upstash-forward-") for name in delivery.headers)


async def test_a_delayed_message_waits_then_arrives(broker, destination) -> None:
    published = await broker.client.message.publish(url=destination.url("/later"), body="x", delay="150s")
    assert destination.to("/later") == []  # 150 scaled seconds are 150 ms
    assert (await broker.client.message.get(published.message_id)).message_id == published.message_id

    [delivery] = await destination.wait_for("/later", 1)

    assert delivery.message_id == published.message_id


async def test_not_before_wins_over_delay(broker, destination) -> None:
    not_before = int(time.time()) + 30
    published = await broker.client.message.publish(
        url=destination.url("/at"), body="x", delay="1d", not_before=not_before
    )
    message = await broker.client.message.get(published.message_id)
    assert message.not_before == not_before * 1000

    [delivery] = await destination.wait_for("/at", 1)  # 30 scaled seconds, not a scaled day

    assert delivery.message_id == published.message_id


async def test_a_repeated_deduplication_id_is_accepted_but_not_delivered_again(broker, destination) -> None:
    first = await broker.client.message.publish_json(url=destination.url("/once"), body=1, deduplication_id="batch-1")
    second = await broker.client.message.publish_json(url=destination.url("/once"), body=1, deduplication_id="batch-1")
    third = await broker.client.message.publish_json(
        url=destination.url("/once"), body=2, content_based_deduplication=True
    )
    fourth = await broker.client.message.publish_json(
        url=destination.url("/once"), body=2, content_based_deduplication=True
    )

    assert (first.deduplicated, second.deduplicated) == (False, True)
    assert second.message_id == first.message_id
    assert (third.deduplicated, fourth.message_id) == (False, third.message_id)
    assert fourth.deduplicated
    deliveries = await destination.wait_for("/once", 2)
    assert sorted(d.message_id for d in deliveries) == sorted([first.message_id, third.message_id])


async def test_a_failed_attempt_is_retried_with_the_same_message_id(broker, destination) -> None:
    destination.answer("/flaky", (500, {}), (200, {}))
    published = await broker.client.message.publish(url=destination.url("/flaky"), body="x")

    first, second = await destination.wait_for("/flaky", 2)

    assert (first.retried, second.retried) == (0, 1)
    assert first.message_id == second.message_id == published.message_id
    assert await _dlq_ids(broker.client) == []


async def test_exhausted_retries_go_to_the_dlq_and_call_the_failure_callback(broker, destination) -> None:
    destination.answer("/down", (500, {"X-Why": "broken"}))
    published = await broker.client.message.publish_json(
        url=destination.url("/down"),
        body={"n": 1},
        retries=2,
        failure_callback=destination.url("/failed"),
    )

    attempts = await destination.wait_for("/down", 3)
    [callback] = await destination.wait_for("/failed", 1)

    assert [attempt.retried for attempt in attempts] == [0, 1, 2]
    assert {attempt.message_id for attempt in attempts} == {published.message_id}
    report = json.loads(callback.body)
    assert report["sourceMessageId"] == published.message_id
    assert (report["status"], report["retried"], report["maxRetries"]) == (500, 2, 2)
    assert base64.b64decode(report["sourceBody"]) == b'{"n": 1}'
    assert base64.b64decode(report["body"]) == b"answered 500"
    assert report["url"] == destination.url("/down")
    assert report["method"] == "POST"
    assert report["sourceHeader"]["Content-Type"] == ["application/json"]
    assert callback.message_id != published.message_id
    [entry] = (await broker.client.dlq.list()).messages
    assert (entry.dlq_id, entry.message_id) == (report["dlqId"], published.message_id)
    assert (entry.response_status, entry.response_body) == (500, "answered 500")
    assert entry.response_headers["X-Why"] == ["broken"]
    assert (await broker.client.dlq.get(entry.dlq_id)).max_retries == 2


async def test_a_non_retryable_489_fails_at_once(broker, destination) -> None:
    destination.answer("/reject", (489, {"Upstash-NonRetryable-Error": "true"}))
    published = await broker.client.message.publish(
        url=destination.url("/reject"),
        body="bad",
        retries=3,
        failure_callback=destination.url("/failed"),
    )

    [callback] = await destination.wait_for("/failed", 1)

    assert len(destination.to("/reject")) == 1
    report = json.loads(callback.body)
    assert (report["status"], report["sourceMessageId"]) == (489, published.message_id)
    assert "retried" not in report
    assert await _dlq_ids(broker.client) == [report["dlqId"]]
    # Failed, it stays readable for the retention window, but there is nothing left to cancel.
    assert (await broker.client.message.get(published.message_id)).message_id == published.message_id
    with pytest.raises(QStashError, match="status: 404"):
        await broker.client.message.cancel(published.message_id)


async def test_a_callback_reports_every_attempt(broker, destination) -> None:
    destination.answer("/slow-start", (503, {}), (200, {}))
    published = await broker.client.message.publish(
        url=destination.url("/slow-start"), body="x", callback=destination.url("/progress")
    )

    first, second = await destination.wait_for("/progress", 2)

    reports = sorted((json.loads(first.body), json.loads(second.body)), key=lambda report: report.get("retried", 0))
    assert [report["status"] for report in reports] == [503, 200]
    assert {report["sourceMessageId"] for report in reports} == {published.message_id}
    assert "dlqId" not in reports[0] and "dlqId" not in reports[1]


async def test_a_delayed_message_can_be_read_and_cancelled(broker, destination) -> None:
    published = await broker.client.message.publish(
        url=destination.url("/cancelled"),
        body="x",
        delay="1h",
        headers={"X-A": "1"},
        retries=1,
    )

    message = await broker.client.message.get(published.message_id)
    await broker.client.message.cancel(published.message_id)

    assert (message.url, message.method, message.max_retries, message.body) == (
        destination.url("/cancelled"),
        "POST",
        1,
        "x",
    )
    assert message.headers == {"X-A": ["1"]}
    with pytest.raises(QStashError, match="status: 404"):
        await broker.client.message.cancel(published.message_id)


async def test_dlq_entries_can_be_deleted(broker, destination) -> None:
    destination.answer("/gone", (404, {}))
    await broker.client.message.publish(url=destination.url("/gone"), body="x", retries=0)
    await destination.wait_for("/gone", 1)
    [dlq_id] = await _wait_for_dlq(broker.client, 1)

    await broker.client.dlq.delete(dlq_id)

    assert await _dlq_ids(broker.client) == []
    with pytest.raises(QStashError, match="status: 404"):
        await broker.client.dlq.get(dlq_id)


async def test_a_wrong_token_is_refused(start_broker) -> None:
    async with start_broker(token="not-the-token") as broker:
        with pytest.raises(QStashError, match='status: 401, body: {"error"'):
            await broker.client.message.publish(url="http://127.0.0.1:9/x", body="x")


async def test_the_signing_keys_are_the_dev_servers(broker) -> None:
    keys = await broker.client.signing_key.get()

    assert (keys.current, keys.next) == (
        "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r",
        "sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs",
    )


async def test_bad_publish_headers_are_a_400(broker) -> None:
    with pytest.raises(QStashError, match="status: 400"):
        await broker.client.message.publish(url="http://127.0.0.1:9/x", retry_delay="__import__('os')")
    with pytest.raises(QStashError, match="status: 404.*url group jobs not found"):
        await broker.client.message.publish(url_group="jobs", body="x")
    with pytest.raises(QStashError, match="invalid destination url"):
        await broker.client.message.publish(url_group="no/such group", body="x")


async def _dlq_ids(client: AsyncQStash) -> list[str]:
    return [entry.dlq_id for entry in (await client.dlq.list()).messages]


async def _wait_for_dlq(client: AsyncQStash, count: int) -> list[str]:
    with anyio.fail_after(5):
        while len(ids := await _dlq_ids(client)) < count:
            await anyio.sleep(0.005)
    return ids
