"""End to end: a real `jobtrail serve` process with its in-process broker, over loopback."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from projections.drift import find_drift
from service.auth.keys import Scope, create_key
from service.settings import DEV_QSTASH_TOKEN
from tests.conftest import CREATE_DATABASE_FROM, DROP_DATABASE, _run_admin

JOBTRAIL = str(Path(sys.executable).with_name("jobtrail"))
FINAL = {"completed", "error", "timeout", "cancelled"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """A jobtrail server process that can be killed and started again on the same ports."""

    def __init__(self, database_url: str, data_dir: Path, faults: str = "") -> None:
        self.port, self.broker_port = free_port(), free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "JOBTRAIL_DATA_DIR": str(data_dir),
            "JOBTRAIL_PORT": str(self.port),
            "JOBTRAIL_PUBLIC_URL": self.base_url,
            "JOBTRAIL_BROKER_PORT": str(self.broker_port),
            "JOBTRAIL_BROKER_TIME_SCALE": "0.001",
            "JOBTRAIL_BROKER_FAULTS": faults,
        }
        self.env.pop("QSTASH_TOKEN", None)
        self.data_dir = data_dir
        self.log = data_dir / "server.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([JOBTRAIL, "serve"], env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jobtrail serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"jobtrail serve did not get ready: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no goodbyes."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, wait_s: float) -> tuple[int, float]:
        """SIGTERM; the exit code and how long the process took to end (killed past `wait_s`)."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(wait_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return code, time.monotonic() - started

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.process:
            self.process.wait(5)


def stop_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# QStash's backoff (e^2.5n s: 12 s, 2.5 min, 30 min) at this scale gives a killed server
# about 20 s to come back before a run's retries run out, even on a loaded machine.
BROKER_TIME_SCALE = "0.01"


def start_broker(port: int, log, time_scale: str = BROKER_TIME_SCALE) -> subprocess.Popen:
    """`jobtrail qstash-dev` on `port`, answering; it forgets a finished message at once, so
    `GET /v2/messages/{id}` answering 200 means QStash still holds it (waiting or retrying)."""
    broker = subprocess.Popen(
        [JOBTRAIL, "qstash-dev", "--port", str(port), "--time-scale", time_scale, "--retention-s", "0"],
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v2/keys", headers={"Authorization": f"Bearer {DEV_QSTASH_TOKEN}"})
            return broker
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the broker did not start")


def new_key(database_url: str, *scopes: Scope) -> str:
    async def make() -> str:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return await create_key(conn, "e2e", scopes)

    return asyncio.run(make())


@pytest.fixture
def key(database_url: str) -> str:
    return new_key(database_url, Scope.JOBS_WRITE, Scope.JOBS_READ, Scope.AUDIT_READ)


@pytest.fixture
def auditor(database_url: str) -> str:
    return new_key(database_url, Scope.AUDIT_READ)


def api_client(service: Service, key: str) -> httpx.Client:
    return httpx.Client(base_url=service.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


@pytest.fixture
def service(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Service]:
    faults = getattr(request, "param", "")
    running = Service(database_url, tmp_path, faults)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def api(service: Service, key: str) -> Iterator[httpx.Client]:
    with api_client(service, key) as client:
        yield client


def wait_for(predicate, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout_s} s for {what}")
        time.sleep(0.02)


def runs_done(api: httpx.Client, job_id: str) -> int:
    return api.get(f"/v1/jobs/{job_id}").json()["processed_runs"]


def create(api: httpx.Client, **body) -> dict:
    response = api.post("/v1/jobs", json={"kind": "demo.count", **body})
    assert response.status_code == 201, response.text
    return response.json()


def wait_until_final(api: httpx.Client, job_id: str, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = api.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in FINAL:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} is still {job['status']} after {timeout_s} s: {job}")


def history(api: httpx.Client, job_id: str) -> list[dict]:
    return api.get(f"/v1/jobs/{job_id}/events").json()["events"]


def recorded_runs(events: list[dict]) -> list[int]:
    """The runs a job's history records a batch of, in order."""
    return [e["data"]["run"] for e in events if e["type"] == "BatchRecorded"]


def drift(database_url: str) -> list:
    """Where the projection differs from a replay of the log (nothing, when they agree)."""

    async def find() -> list:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return await find_drift(conn)

    return asyncio.run(find())


class Running(msgspec.Struct):
    service: Service
    database_url: str
    key: str


@pytest.fixture(scope="module")
def running(
    admin_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Running]:
    """One service for the module's tests: each creates its own jobs and looks only at those."""
    name = f"jobtrail_m_{os.getpid()}_{request.module.__name__.rsplit('.', 1)[-1]}"
    _run_admin(admin_url, CREATE_DATABASE_FROM, name=name, template=template_db)
    database_url = make_conninfo(admin_url, dbname=name)
    service = Service(database_url, tmp_path_factory.mktemp("running"))
    service.start()
    try:
        yield Running(service, database_url, new_key(database_url, Scope.JOBS_WRITE, Scope.JOBS_READ))
    finally:
        service.stop()
        _run_admin(admin_url, DROP_DATABASE, name=name)
