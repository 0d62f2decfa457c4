"""POST /qstash/schedules/{id}/fire: signed as every QStash route, at most one job per tick.

The fire's clock is pinned (service.schedules.fire.now), so a tick is never split by a
minute boundary between two copies of one fire. An app given a fire clock (a time-scaled
broker's, in tests) derives the tick from it and records the rest on the service's.
"""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.lifecycle import Status
from domain.schedule.commands import CreateSchedule, PauseSchedule
from domain.schedule.events import ScheduleFired
from domain.schedule.jobs import job_id_for
from domain.schedule.policies import CatchUp, Overlap
from projections import schedules
from projections.log import Metadata, read_stream
from service.jobs.kinds import load_kinds
from service.schedules import fire as fire_module
from service.schedules.command_handler import handle
from service.store.job_status import load as load_job
from tests.service.qstash.conftest import PUBLIC_URL
from tests.service.qstash.test_signatures import claims, sign

pytestmark = pytest.mark.anyio

TICK = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)  # a top of the hour
ACTOR = Metadata(actor="ops")


def route(schedule_id: uuid.UUID) -> str:
    return f"/qstash/schedules/{schedule_id}/fire"


def headers(schedule_id: uuid.UUID, message_id: str) -> dict[str, str]:
    return {
        "Upstash-Signature": sign(claims(b"", sub=f"{PUBLIC_URL}{route(schedule_id)}")),
        "Upstash-Message-Id": message_id,
    }


async def send(client, schedule_id: uuid.UUID, message_id: str | None = None):
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    return await client.post(route(schedule_id), content=b"", headers=headers(schedule_id, message_id))


def delivered_at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr(fire_module, "now", lambda: moment)


async def hourly(pool, **choices) -> uuid.UUID:
    schedule_id = uuid.uuid4()
    create = CreateSchedule(
        at=TICK - timedelta(hours=3, minutes=30),
        owner="ada",
        kind="demo.count",
        params={"total": 3},
        cron="0 * * * *",
        **choices,
    )
    await handle(pool, schedule_id, create, ACTOR, load_kinds())
    return schedule_id


async def state(pool, schedule_id):
    async with pool.connection() as conn:
        return await schedules.load(conn, schedule_id)


async def test_a_fire_creates_the_ticks_job_and_its_copies_create_none(client, pool, monkeypatch):
    schedule_id = await hourly(pool)
    delivered_at(monkeypatch, TICK + timedelta(seconds=2))
    first = await send(client, schedule_id, "msg_a")
    assert first.status_code == 200, first.text
    job_id = job_id_for(schedule_id, TICK)
    assert first.json() == {
        "outcome": "fired",
        "schedule_id": str(schedule_id),
        "tick": TICK.isoformat(),
        "job_id": str(job_id),
    }
    again = await send(client, schedule_id, "msg_a")  # QStash's retry: the recorded answer
    assert again.json() == {**first.json(), "duplicate": True}
    other = await send(client, schedule_id, "msg_b")  # a copy under its own message id
    assert other.json()["outcome"] == "no_op" and other.json()["reason"] == "tick_already_fired"
    after = await state(pool, schedule_id)
    assert (after.jobs_created, after.last_job_id, after.last_tick) == (1, job_id, TICK)
    async with pool.connection() as conn:
        job = await load_job(conn, job_id)
        outbox = await (await conn.execute("SELECT count(*) FROM outbox WHERE stream_id = %s", (job_id,))).fetchone()
    assert job.status is Status.PENDING and job.owner == "ada" and job.kind == "demo.count"
    assert outbox == (1,)  # its first run, for the relay to publish


async def test_concurrent_fires_for_one_tick_create_exactly_one_job(client, pool, monkeypatch):
    schedule_id = await hourly(pool)
    delivered_at(monkeypatch, TICK + timedelta(seconds=1))
    answers = await asyncio.gather(*(send(client, schedule_id) for _ in range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert sorted(a.json()["outcome"] for a in answers) == ["fired"] + ["no_op"] * 7
    async with pool.connection() as conn:
        created = await (await conn.execute("SELECT count(*) FROM job_status")).fetchone()
        events = await read_stream(conn, schedule_id)
    assert created == (1,)
    assert [e.type for e in events] == ["ScheduleCreated", "ScheduleFired"]


async def test_a_late_fire_within_the_catch_up_policy_creates_the_latest_ticks_job(client, pool, monkeypatch):
    schedule_id = await hourly(pool, catch_up=CatchUp.LATEST_ONCE)
    delivered_at(monkeypatch, TICK + timedelta(minutes=40))  # beyond the tolerance, before the next tick
    answer = await send(client, schedule_id)
    assert answer.json()["job_id"] == str(job_id_for(schedule_id, TICK))
    async with pool.connection() as conn:
        fired = (await read_stream(conn, schedule_id))[-1].event
    assert isinstance(fired, ScheduleFired)
    assert fired.missed == 3  # 06:00, 07:00 and 08:00 passed unfired and get no job


async def test_a_late_fire_under_catch_up_skip_creates_no_job(client, pool, monkeypatch):
    schedule_id = await hourly(pool, catch_up=CatchUp.SKIP)
    delivered_at(monkeypatch, TICK + timedelta(minutes=40))
    answer = await send(client, schedule_id)
    assert answer.json()["reason"] == "missed" and "job_id" not in answer.json()
    assert (await state(pool, schedule_id)).jobs_created == 0


async def test_a_paused_schedule_fires_no_job_and_the_fire_is_recorded(client, pool, monkeypatch):
    schedule_id = await hourly(pool)
    await handle(pool, schedule_id, PauseSchedule(at=TICK - timedelta(minutes=5)), ACTOR, load_kinds())
    delivered_at(monkeypatch, TICK)
    answer = await send(client, schedule_id, "msg_paused")
    assert answer.json() == {"outcome": "no_op", "schedule_id": str(schedule_id), "reason": "schedule_paused"}
    again = await send(client, schedule_id, "msg_paused")
    assert again.json()["duplicate"] is True  # recorded in the inbox
    assert (await state(pool, schedule_id)).jobs_created == 0


async def test_an_apps_fire_clock_gives_the_tick_and_the_service_clock_the_recorded_time(client, pool, monkeypatch):
    schedule_id = await hourly(pool)
    delivered_at(monkeypatch, TICK - timedelta(minutes=50))  # the service's clock: 08:10
    client.app.state.fire_clock = lambda: TICK + timedelta(hours=2, seconds=3)  # the broker's: 11:00:03
    answer = await send(client, schedule_id)
    later = TICK + timedelta(hours=2)
    assert answer.json()["tick"] == later.isoformat()
    assert answer.json()["job_id"] == str(job_id_for(schedule_id, later))
    async with pool.connection() as conn:
        fired = (await read_stream(conn, schedule_id))[-1].event
    assert isinstance(fired, ScheduleFired) and fired.at == TICK - timedelta(minutes=50)


async def test_an_unknown_schedule_is_a_recorded_no_op(client, pool, monkeypatch):
    answer = await send(client, uuid.uuid4())
    assert answer.status_code == 200 and answer.json()["reason"] == "no_schedule"


async def test_overlap_skip_creates_no_job_while_the_previous_one_is_active(client, pool, monkeypatch):
    schedule_id = await hourly(pool, overlap=Overlap.SKIP)
    delivered_at(monkeypatch, TICK)
    first = await send(client, schedule_id)
    delivered_at(monkeypatch, TICK + timedelta(hours=1))  # the first job is still pending
    second = await send(client, schedule_id)
    assert "job_id" in first.json()
    assert second.json()["reason"] == "overlap" and "job_id" not in second.json()
    assert (await state(pool, schedule_id)).jobs_created == 1


async def test_cancel_previous_cancels_the_active_job_and_creates_the_next(client, pool, monkeypatch):
    schedule_id = await hourly(pool, overlap=Overlap.CANCEL_PREVIOUS, deadline_s=7200.0)  # not overdue at the next tick
    delivered_at(monkeypatch, TICK)
    await send(client, schedule_id)
    delivered_at(monkeypatch, TICK + timedelta(hours=1))
    second = await send(client, schedule_id)
    assert second.json()["job_id"] == str(job_id_for(schedule_id, TICK + timedelta(hours=1)))
    async with pool.connection() as conn:
        previous = await load_job(conn, job_id_for(schedule_id, TICK))
    assert previous.status is Status.CANCELLED


async def test_an_unsigned_fire_is_refused(client, pool):
    schedule_id = uuid.uuid4()
    response = await client.post(route(schedule_id), content=b"", headers={"Upstash-Message-Id": "msg_x"})
    assert response.status_code == 401
