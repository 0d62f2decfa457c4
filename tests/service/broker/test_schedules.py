"""Schedules through the SDK; the schedule loop runs on the scaled clock (a minute is 60 ms)."""

import json
from datetime import UTC, datetime

import pytest
from qstash.errors import QStashError
from qstash.schedule import ScheduleState

pytestmark = pytest.mark.anyio


async def test_a_schedule_is_listed_and_delivers_with_its_schedule_id(broker, destination) -> None:
    schedule_id = await broker.client.schedule.create_json(
        destination=destination.url("/sweep"),
        cron="* * * * *",
        body={"sweep": True},
        headers={"X-Kind": "sweep"},
    )

    [listed] = await broker.client.schedule.list()
    first, second = await destination.wait_for("/sweep", 2)

    assert (listed.schedule_id, listed.cron, listed.destination) == (
        schedule_id,
        "* * * * *",
        destination.url("/sweep"),
    )
    assert listed.headers == {"Content-Type": ["application/json"], "X-Kind": ["sweep"]}
    assert first.headers["upstash-schedule-id"] == second.headers["upstash-schedule-id"] == schedule_id
    assert first.message_id != second.message_id
    assert json.loads(first.body) == {"sweep": True}
    assert first.headers["x-kind"] == "sweep"
    states = (await broker.client.schedule.get(schedule_id)).last_schedule_states
    assert ScheduleState.SUCCESS in states.values()


async def test_a_schedule_id_overwrites_and_can_be_paused_resumed_and_deleted(broker, destination) -> None:
    url = destination.url("/nightly")
    created = await broker.client.schedule.create(destination=url, cron="0 3 * * *", schedule_id="nightly")
    overwritten = await broker.client.schedule.create(destination=url, cron="30 4 * * 1-5", schedule_id="nightly")

    await broker.client.schedule.pause("nightly")
    paused = await broker.client.schedule.get("nightly")
    await broker.client.schedule.resume("nightly")
    resumed = await broker.client.schedule.get("nightly")
    await broker.client.schedule.delete("nightly")

    assert created == overwritten == "nightly"
    assert (paused.cron, paused.paused, resumed.paused) == ("30 4 * * 1-5", True, False)
    assert await broker.client.schedule.list() == []
    with pytest.raises(QStashError, match="status: 404"):
        await broker.client.schedule.get("nightly")


async def test_trigger_due_publishes_only_schedules_whose_cron_matches_the_minute(broker, destination) -> None:
    scheduler = broker.state.scheduler
    await broker.client.schedule.create(destination=destination.url("/noon"), cron="0 12 * * *", schedule_id="noon")
    await broker.client.schedule.create(destination=destination.url("/off"), cron="0 12 * * *", schedule_id="off")
    await broker.client.schedule.pause("off")

    at_noon = scheduler.trigger_due(datetime(2026, 11, 23, 12, 0, 30, tzinfo=UTC))
    after_noon = scheduler.trigger_due(datetime(2026, 11, 23, 12, 1, tzinfo=UTC))

    assert len(at_noon) == 1 and after_noon == []
    [delivery] = await destination.wait_for("/noon", 1)
    assert delivery.message_id == at_noon[0]
    assert destination.to("/off") == []


async def test_a_schedule_without_cron_or_with_a_bad_one_is_a_400(broker) -> None:
    with pytest.raises(QStashError, match="status: 400"):
        await broker.client.schedule.create(destination="http://127.0.0.1:9/x", cron="61 * * * *")
    with pytest.raises(QStashError, match="status: 400"):
        await broker.client.schedule.create(destination="http://127.0.0.1:9/x", cron="* * * * *", schedule_id="a/b c")


async def test_a_cron_tz_schedule_is_kept_as_written_and_fires_on_its_zones_clock(broker, destination) -> None:
    scheduler = broker.state.scheduler
    cron = "CRON_TZ=Europe/Berlin 0 9 * * *"
    await broker.client.schedule.create(destination=destination.url("/berlin"), cron=cron, schedule_id="berlin")

    at_nine_utc = scheduler.trigger_due(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    at_nine_berlin = scheduler.trigger_due(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))

    assert (await broker.client.schedule.get("berlin")).cron == cron
    assert at_nine_utc == [] and len(at_nine_berlin) == 1
    await destination.wait_for("/berlin", 1)


async def test_an_unknown_cron_tz_is_a_400(broker) -> None:
    with pytest.raises(QStashError, match="status: 400"):
        await broker.client.schedule.create(destination="http://127.0.0.1:9/x", cron="CRON_TZ=Mars/Olympus * * * * *")


async def test_a_cron_tz_schedule_sent_raw_is_accepted(broker) -> None:
    async with broker.raw() as http:
        answer = await http.post(
            "/v2/schedules/https://example.com/x", headers={"Upstash-Cron": "CRON_TZ=Europe/Berlin 0 9 * * *"}
        )

    assert answer.status_code == 200
    assert broker.state.store.schedules[answer.json()["scheduleId"]].cron.zone == "Europe/Berlin"


async def test_a_schedule_to_a_url_group_is_refused_by_name(broker) -> None:
    with pytest.raises(QStashError, match="status: 400.*URL group"):
        await broker.client.schedule.create(destination="my-group", cron="* * * * *")
