"""The schedule keeper against the real broker over loopback, through the real SDK: it puts the
sweep schedule in place whenever QStash answers, says when QStash does not, and keeps one
QStash schedule per live jobtrail schedule."""

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import anyio
import pytest
import uvicorn
from qstash import AsyncQStash

from domain.schedule.commands import (
    AnyScheduleCommand,
    CreateSchedule,
    DeleteSchedule,
    PauseSchedule,
    ResumeSchedule,
)
from projections.log import Metadata
from service.broker import BrokerConfig, create_broker
from service.jobs.kinds import load_kinds
from service.jobs.observers import Observers
from service.live.event_feed import EventFeed
from service.qstash.broker_status import BrokerStatus
from service.qstash.client import qstash_client
from service.qstash.schedule_keeper import SWEEP_CRON, SWEEP_SCHEDULE_ID, ScheduleKeeper
from service.schedules import service
from service.schedules.command_handler import handle

pytestmark = pytest.mark.anyio

PUBLIC_URL = "http://jobtrail.test"
SWEEP_URL = f"{PUBLIC_URL}/qstash/sweep"
TOKEN = BrokerConfig().token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def broker_on(port: int) -> AsyncIterator[dict]:
    """A fresh broker (empty, as after a restart) on `port`; yields its schedules."""
    app = create_broker(BrokerConfig(time_scale=1), configure_logging=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    try:
        yield app.state.broker.store.schedules
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
async def client(port: int) -> AsyncIterator[AsyncQStash]:
    client = qstash_client(TOKEN, f"http://127.0.0.1:{port}", local_broker=False)
    try:
        yield client
    finally:
        await client.http._client.aclose()


def keeper_of(client: AsyncQStash, interval_s: float = 30.0) -> ScheduleKeeper:
    return ScheduleKeeper(client, PUBLIC_URL, BrokerStatus(), interval_s)


def state_of(keeper: ScheduleKeeper) -> str:
    return keeper.status.health.state


def sweep_schedule(schedules: dict) -> tuple[str, str] | None:
    schedule = schedules.get(SWEEP_SCHEDULE_ID)
    return (schedule.spec.url, schedule.cron_text) if schedule else None


async def test_a_check_creates_the_missing_schedule_and_finds_qstash_up(port, client) -> None:
    keeper = keeper_of(client)
    async with broker_on(port) as schedules:
        await keeper.check()
        assert sweep_schedule(schedules) == (SWEEP_URL, SWEEP_CRON)
    assert keeper.status.health.state == "up"


async def test_a_schedule_with_another_destination_is_replaced(port, client) -> None:
    async with broker_on(port) as schedules:
        await client.schedule.create(
            destination="http://elsewhere.test/sweep", cron="0 * * * *", schedule_id=SWEEP_SCHEDULE_ID
        )
        await keeper_of(client).check()
        assert sweep_schedule(schedules) == (SWEEP_URL, SWEEP_CRON)


async def test_without_an_answer_the_check_reports_qstash_down_and_catches_up_once_it_answers(
    port, client, caplog
) -> None:
    keeper = keeper_of(client)
    with caplog.at_level(logging.WARNING, logger="jobtrail.qstash"):
        await keeper.check()
        await keeper.check()
        down = keeper.status.health
        async with broker_on(port) as schedules:
            await keeper.check()
            assert sweep_schedule(schedules) == (SWEEP_URL, SWEEP_CRON)
    assert (down.state, down.error) == ("down", "ConnectError")
    assert keeper.status.health.state == "up" and keeper.status.health.since >= down.since
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 2  # once when it went down, once when it came back
    assert "QStash does not answer (ConnectError)" in said[0] and "QStash answers again" in said[1]


async def test_a_refusal_is_down_with_its_status_and_nothing_secret(port) -> None:
    client = qstash_client("not-the-token", f"http://127.0.0.1:{port}", local_broker=False)
    keeper = keeper_of(client)
    try:
        async with broker_on(port):
            await keeper.check()
    finally:
        await client.http._client.aclose()
    assert (keeper.status.health.state, keeper.status.health.error) == ("down", "QStashError (HTTP 401)")


async def test_a_qstash_that_takes_the_connection_but_never_answers_is_down_after_the_check_timeout(
    port, client
) -> None:
    keeper = ScheduleKeeper(client, PUBLIC_URL, BrokerStatus(), interval_s=30, timeout_s=0.2)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", port))
        silent.listen()  # the kernel completes the handshake; nobody reads or writes
        with anyio.fail_after(5):
            await keeper.check()
    assert (keeper.status.health.state, keeper.status.health.error) == ("down", "TimeoutError")


async def test_a_restarted_broker_has_the_schedule_again_within_an_interval(port, client) -> None:
    keeper, stop = keeper_of(client, interval_s=0.05), asyncio.Event()
    running = asyncio.create_task(keeper.run(stop))
    try:
        async with broker_on(port) as schedules:
            with anyio.fail_after(5):
                while sweep_schedule(schedules) is None:
                    await asyncio.sleep(0.01)
        with anyio.fail_after(5):  # stopped: the next check finds no broker
            while state_of(keeper) != "down":
                await asyncio.sleep(0.01)
        async with broker_on(port) as restarted:  # an empty broker, as `jobtrail qstash-dev` restarts
            with anyio.fail_after(5):
                while sweep_schedule(restarted) is None or state_of(keeper) != "up":
                    await asyncio.sleep(0.01)
    finally:
        stop.set()
        await running


CREATED_AT = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


async def command(pool, schedule_id: uuid.UUID, cmd: AnyScheduleCommand) -> None:
    await handle(pool, schedule_id, cmd, Metadata(actor="ops"), load_kinds())


async def a_schedule(pool, cron: str = "0 * * * *", zone: str = "UTC") -> uuid.UUID:
    schedule_id = uuid.uuid4()
    create = CreateSchedule(
        at=CREATED_AT, owner="ada", kind="demo.count", params={"total": 3}, cron=cron, time_zone=zone
    )
    await command(pool, schedule_id, create)
    return schedule_id


def keeping(client: AsyncQStash, pool, interval_s: float = 30.0) -> ScheduleKeeper:
    return ScheduleKeeper(client, PUBLIC_URL, BrokerStatus(), interval_s, pool=pool)


def held(schedules: dict, schedule_id: uuid.UUID) -> tuple[str, str, bool] | None:
    schedule = schedules.get(str(schedule_id))
    return (schedule.spec.url, schedule.cron_text, schedule.paused) if schedule else None


def fire_url(schedule_id: uuid.UUID) -> str:
    return f"{PUBLIC_URL}/qstash/schedules/{schedule_id}/fire"


async def test_a_missing_schedule_is_created_firing_its_route_in_its_zone(port, client, pool) -> None:
    berlin, utc = await a_schedule(pool, "30 2 * * *", "Europe/Berlin"), await a_schedule(pool)
    async with broker_on(port) as schedules:
        await keeping(client, pool).check()
        assert held(schedules, berlin) == (fire_url(berlin), "CRON_TZ=Europe/Berlin 30 2 * * *", False)
        assert held(schedules, utc) == (fire_url(utc), "CRON_TZ=UTC 0 * * * *", False)
        assert sweep_schedule(schedules) == (SWEEP_URL, SWEEP_CRON)


async def test_orphans_are_deleted_and_other_schedules_left_alone(port, client, pool) -> None:
    kept, deleted, never = await a_schedule(pool), await a_schedule(pool), uuid.uuid4()
    keeper = keeping(client, pool)
    async with broker_on(port) as schedules:
        await keeper.check()
        await command(pool, deleted, DeleteSchedule(at=CREATED_AT))
        await client.schedule.create(destination=fire_url(never), cron="* * * * *", schedule_id=str(never))
        await client.schedule.create(destination="http://elsewhere.test/x", cron="* * * * *", schedule_id="theirs")
        await keeper.check()
        assert set(schedules) == {str(kept), "theirs", SWEEP_SCHEDULE_ID}


async def test_the_paused_state_follows_jobtrails(port, client, pool) -> None:
    schedule_id = await a_schedule(pool)
    keeper = keeping(client, pool)
    async with broker_on(port) as schedules:
        await keeper.check()
        await command(pool, schedule_id, PauseSchedule(at=CREATED_AT))
        await keeper.check()
        paused = held(schedules, schedule_id)
        await command(pool, schedule_id, ResumeSchedule(at=CREATED_AT))
        await keeper.check()
        resumed = held(schedules, schedule_id)
        await client.schedule.pause(str(schedule_id))  # paused behind jobtrail's back
        await keeper.check()
        assert (paused[2], resumed[2], held(schedules, schedule_id)[2]) == (True, False, False)


async def test_a_changed_cron_or_destination_is_rewritten_keeping_the_pause(port, client, pool) -> None:
    schedule_id = await a_schedule(pool)
    await command(pool, schedule_id, PauseSchedule(at=CREATED_AT))
    async with broker_on(port) as schedules:
        await client.schedule.create(destination="http://old.test/x", cron="5 * * * *", schedule_id=str(schedule_id))
        await keeping(client, pool).check()
        assert held(schedules, schedule_id) == (fire_url(schedule_id), "CRON_TZ=UTC 0 * * * *", True)


async def test_a_restarted_broker_has_every_schedule_again_at_the_next_check(port, client, pool) -> None:
    schedule_id = await a_schedule(pool)
    keeper, stop = keeping(client, pool, interval_s=0.05), asyncio.Event()
    running = asyncio.create_task(keeper.run(stop))
    try:
        async with broker_on(port) as schedules:
            with anyio.fail_after(5):
                while held(schedules, schedule_id) is None:
                    await asyncio.sleep(0.01)
        async with broker_on(port) as restarted:  # empty, as `jobtrail qstash-dev` restarts
            with anyio.fail_after(5):
                while held(restarted, schedule_id) is None or sweep_schedule(restarted) is None:
                    await asyncio.sleep(0.01)
    finally:
        stop.set()
        await running


async def test_a_wake_checks_at_once_rather_than_at_the_interval(port, client, pool) -> None:
    keeper, stop = keeping(client, pool, interval_s=60), asyncio.Event()
    async with broker_on(port) as schedules:
        running = asyncio.create_task(keeper.run(stop))
        try:
            with anyio.fail_after(5):
                while sweep_schedule(schedules) is None:
                    await asyncio.sleep(0.01)
            schedule_id = await a_schedule(pool)
            keeper.wake()
            with anyio.fail_after(5):
                while held(schedules, schedule_id) is None:
                    await asyncio.sleep(0.01)
        finally:
            stop.set()
            await running


async def test_a_change_through_the_service_reaches_qstash_well_within_the_interval(
    port, client, pool, database_url
) -> None:
    feed = EventFeed(database_url)
    observers, kinds = Observers(feed=feed), load_kinds()
    keeper = ScheduleKeeper(client, PUBLIC_URL, BrokerStatus(), 60, pool=pool, woken=feed.schedules_changed)
    spec = {"owner": "ada", "kind": "demo.count", "params": {"total": 3}, "cron": "*/5 * * * *"}
    stop = asyncio.Event()
    async with broker_on(port) as schedules:
        running = asyncio.create_task(keeper.run(stop))
        try:
            schedule_id, _, _ = await service.create(pool, kinds, spec, Metadata(actor="ops"), observers=observers)
            with anyio.fail_after(2):
                while held(schedules, schedule_id) is None:
                    await asyncio.sleep(0.01)
            await service.pause(pool, kinds, schedule_id, Metadata(actor="ops"), observers=observers)
            with anyio.fail_after(2):
                while not held(schedules, schedule_id)[2]:
                    await asyncio.sleep(0.01)
            await service.delete(pool, kinds, schedule_id, Metadata(actor="ops"), observers=observers)
            with anyio.fail_after(2):
                while held(schedules, schedule_id) is not None:
                    await asyncio.sleep(0.01)
        finally:
            stop.set()
            await running
