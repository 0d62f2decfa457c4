"""Starting `jobtrail serve` as a new user would, and the traps on the way.

- JOBTRAIL_PUBLIC_URL unset: deliveries follow the port served (JOBTRAIL_PORT, --port 0).
- A public URL that leads elsewhere: the self-probe says so in /readyz, and the verdict
  is unhealthy.
- "jobtrail listening on …" is printed once the port is bound, before the key lines.
- The database away at start: /readyz 503 and a line per attempt until it answers.
- SIGTERM stops the embedded PostgreSQL that `serve` started, with or without workers.
"""

import contextlib
import http.server
import os
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.e2e.conftest import JOBTRAIL, Service, api_client, create, free_port, wait_for, wait_until_final
from tests.e2e.processes import running


def readiness(base_url: str) -> tuple[int, dict]:
    response = httpx.get(f"{base_url}/readyz", timeout=5)
    return response.status_code, response.json()


def deliveries_state(base_url: str) -> str | None:
    return readiness(base_url)[1].get("deliveries", {}).get("state")


def test_with_no_public_url_deliveries_follow_the_port_served(database_url, tmp_path, key):
    """The trap: JOBTRAIL_PORT=18700 left deliveries going to :8000, and jobs pending for ever."""
    service = Service(database_url, tmp_path)
    del service.env["JOBTRAIL_PUBLIC_URL"]
    api = api_client(service, key)
    try:
        service.start()
        job = wait_until_final(api, create(api, params={"total": 40, "per_batch": 20})["id"])
        wait_for(lambda: deliveries_state(service.base_url) == "ok", "the self-probe to arrive")
    finally:
        api.close()
        service.stop()
    assert job["status"] == "completed"


def start_serve(env: dict[str, str], *args: str, log: Path, timeout_s: float = 30) -> subprocess.Popen:
    """`jobtrail serve ARGS`, its stdout read here, once it has printed a line."""
    with log.open("ab") as stderr:
        process = subprocess.Popen(
            [JOBTRAIL, "serve", *args], env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout_s)
    assert ready, log.read_text()[-2000:]
    return process


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    finally:
        if process.stdout is not None:
            process.stdout.close()


def test_port_zero_is_served_and_said_once_bound_and_the_key_lines_follow(database_url, tmp_path):
    service = Service(database_url, tmp_path)  # for its environment
    env = {name: value for name, value in service.env.items() if name not in ("JOBTRAIL_PUBLIC_URL", "JOBTRAIL_PORT")}
    process = start_serve(env, "--port", "0", "--dev", log=tmp_path / "serve.log")
    assert process.stdout is not None
    first = process.stdout.readline()
    try:
        assert first.startswith("jobtrail listening on http://127.0.0.1:")
        base_url = first.split()[3]
        with socket.create_connection(("127.0.0.1", int(base_url.rsplit(":", 1)[1])), timeout=1):
            pass  # bound and listening when it is said
        lines = [process.stdout.readline() for _ in range(5)]
        key = lines[1].strip()
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as api:
            job = wait_until_final(api, create(api, params={"total": 40, "per_batch": 20})["id"])
        wait_for(lambda: deliveries_state(base_url) == "ok", "the self-probe to arrive")
    finally:
        code = stop(process)
    assert lines[0].startswith("development API key for owner 'dev'") and key.startswith("jt_")
    assert lines[4].strip().startswith(f"curl -s -X POST {base_url}/v1/jobs")
    assert job["status"] == "completed"
    assert code == 0


class _Answers200(http.server.BaseHTTPRequestHandler):
    """Another service on the port QStash delivers to: it takes anything."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def another_service() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers200)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("elsewhere", ["another service answers", "nothing listens"])
def test_a_public_url_that_leads_elsewhere_is_found_out_and_said(database_url, tmp_path, auditor, elsewhere, request):
    public_url = request.getfixturevalue("another_service") if elsewhere == "another service answers" else None
    service = Service(database_url, tmp_path)
    service.env["JOBTRAIL_PUBLIC_URL"] = public_url or f"http://127.0.0.1:{free_port()}"
    try:
        service.start()
        wait_for(lambda: deliveries_state(service.base_url) == "failed", "the self-probe to fail")
        status, ready = readiness(service.base_url)
        stats = httpx.get(f"{service.base_url}/v1/stats", headers={"Authorization": f"Bearer {auditor}"}).json()
    finally:
        service.stop()
    reason = ready["deliveries"]["reason"]
    assert status == 200 and ready["status"] == "ready"  # the probe travels through the load balancer
    assert reason.startswith(f"deliveries sent to {service.env['JOBTRAIL_PUBLIC_URL']} do not reach this service")
    assert stats["verdict"] == "unhealthy" and reason in stats["reasons"]
    assert "set JOBTRAIL_PUBLIC_URL" in service.log.read_text()


class Forwarder:
    """A TCP port that, once opened, leads to the database: a database that comes up late."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.sockets: list[socket.socket] = []

    def open(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self.sockets.append(listener)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def test_a_database_away_at_start_is_retried_and_readyz_says_so_until_it_answers(database_url, tmp_path, key):
    params = conninfo_to_dict(database_url)
    if str(params.get("host", "")).startswith("/"):
        pytest.skip("the test database listens on a Unix socket only")
    forwarder = Forwarder((str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)))
    service = Service(make_conninfo(database_url, host="127.0.0.1", port=forwarder.port), tmp_path)
    api = api_client(service, key)
    try:
        with service.log.open("ab") as log:
            service.process = subprocess.Popen([JOBTRAIL, "serve"], env=service.env, stdout=log, stderr=log)
        wait_for(lambda: attempts_logged(service) >= 2, "two attempts to reach the database")
        away = readiness(service.base_url)
        refused = api.get("/v1/jobs")
        forwarder.open()
        wait_for(lambda: ready_at(service.port), "/readyz 200 once the database answers")
        job = wait_until_final(api, create(api, params={"total": 40, "per_batch": 20})["id"])
    finally:
        api.close()
        service.stop()
        forwarder.close()
    assert away[0] == 503 and away[1]["status"] == "unavailable"
    assert away[1]["reason"].startswith("the database does not answer yet (OperationalError; ")
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    assert job["status"] == "completed"
    lines = [line for line in service.log.read_text().splitlines() if "the database does not answer (attempt" in line]
    assert len(lines) >= 2 and f"port {forwarder.port} failed" in lines[0]


def attempts_logged(service: Service) -> int:
    return service.log.read_text().count("the database does not answer (attempt")


def postgres_running(pgdata: Path) -> bool:
    return bool(running("postgres", f"-D {pgdata}"))


@pytest.mark.parametrize(("workers", "when"), [(1, "serving"), (2, "serving"), (1, "starting"), (2, "starting")])
def test_sigterm_stops_the_embedded_postgresql_serve_started(tmp_path_factory, workers, when):
    """ "starting": SIGTERM as soon as `serve` says it listens, before its server takes signals."""
    data_dir = tmp_path_factory.getbasetemp() / "embedded"  # one cluster for every case: initdb is slow
    data_dir.mkdir(exist_ok=True)
    env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
    port = free_port()
    env.update(
        JOBTRAIL_DATA_DIR=str(data_dir),
        JOBTRAIL_PORT=str(port),
        JOBTRAIL_BROKER_PORT="0",
        JOBTRAIL_WORKERS=str(workers),
        JOBTRAIL_BROKER_TIME_SCALE="0.001",
    )
    process = start_serve(env, log=data_dir / f"serve-{workers}-{when}.log", timeout_s=120)
    pgdata = (data_dir / "pg").resolve()
    try:
        assert process.stdout is not None and process.stdout.readline().startswith("jobtrail listening on")
        if when == "serving":
            wait_for(lambda: ready_at(port), "serve with an embedded PostgreSQL")
        running = postgres_running(pgdata)
    finally:
        code = stop(process)
    assert running
    assert code == 0
    assert not postgres_running(pgdata) and not (pgdata / "postmaster.pid").exists()
    assert (pgdata / ".handle_pids.json").read_text() == "[]"


def ready_at(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        time.sleep(0.2)
        return False
