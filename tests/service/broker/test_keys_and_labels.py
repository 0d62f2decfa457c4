"""Signing-key rotation and labels on schedules, messages and the DLQ."""

import jwt
import pytest
from qstash import Receiver

from service.broker.config import DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY

pytestmark = pytest.mark.anyio


async def test_a_rotation_promotes_next_and_deliveries_sign_with_the_new_current(broker, destination) -> None:
    rotated = await broker.client.signing_key.rotate()
    shown = await broker.client.signing_key.get()
    destination.receiver = Receiver(rotated.current, rotated.next)

    await broker.client.message.publish(url=destination.url("/signed"), body="x")
    [delivery] = await destination.wait_for("/signed", 1)

    assert rotated.current == DEV_NEXT_SIGNING_KEY
    assert rotated.next.startswith("sig_") and len(rotated.next) == 32 and rotated.next != DEV_CURRENT_SIGNING_KEY
    assert (shown.current, shown.next) == (rotated.current, rotated.next)
    jwt.decode(delivery.headers["upstash-signature"], rotated.current, algorithms=["HS256"], issuer="Upstash")


async def test_a_labelled_schedule_labels_its_messages(broker, destination) -> None:
    schedule_id = await broker.client.schedule.create(
        destination=destination.url("/tick"), cron="CRON_TZ=Europe/Berlin * * * * *", label="ticks"
    )
    [delivery] = (await destination.wait_for("/tick", 1))[:1]

    schedule = await broker.client.schedule.get(schedule_id)
    message = await broker.client.message.get(delivery.message_id)
    logs = (await broker.client.log.list(filter={"label": "ticks", "schedule_id": schedule_id})).logs

    assert (schedule.label, message.label, message.schedule_id) == ("ticks", "ticks", schedule_id)
    assert logs and all(log.label == "ticks" for log in logs)


async def test_several_labels_are_each_a_filter_hit(broker, destination) -> None:
    published = await broker.client.message.publish(url=destination.url("/multi"), body="x", delay="1h", label="a,b")

    by_b = (await broker.client.log.list(filter={"label": "b"})).logs
    by_c = (await broker.client.log.list(filter={"label": "c"})).logs

    assert {log.message_id for log in by_b} == {published.message_id} and by_c == []


async def test_unimplemented_publish_features_are_refused_by_name(broker) -> None:
    from qstash.errors import QStashError

    with pytest.raises(QStashError, match="status: 400.*Upstash-Redact-Fields"):
        await broker.client.message.publish(url="http://127.0.0.1:9/x", body="x", redact={"body": True})
