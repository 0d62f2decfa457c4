"""The schedule keeper against the real broker over loopback, through the real SDK: it puts the
sweep schedule in place whenever QStash answers, and says when QStash does not."""

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator

import anyio
import pytest
import uvicorn
from qstash import AsyncQStash

from service.broker import BrokerConfig, create_broker
from service.qstash.broker_status import BrokerStatus
from service.qstash.client import qstash_client
from service.qstash.schedule_keeper import SWEEP_CRON, SWEEP_SCHEDULE_ID, ScheduleKeeper

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
