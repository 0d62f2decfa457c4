"""Three `jobtrail serve` processes behind nginx, one standalone broker, one PostgreSQL.

This is the deployment of docs/deploy.md, on one machine: nginx runs deploy/nginx.conf
as shipped, with this test's ports written into its `server` and `listen` lines, and is
the public URL of all three processes, so QStash (here `jobtrail qstash-dev`) delivers
every run to nginx and nginx spreads them over the processes. One process is killed
with SIGKILL mid-run and started again later. Every job still completes, every run is
recorded exactly once, job_status equals a fresh fold of the log (`jobtrail projections
verify`), and every history's hash chain verifies.
"""

import asyncio
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import psycopg
import pytest

from service.settings import DEV_QSTASH_TOKEN
from tests.e2e.conftest import JOBTRAIL, Service, free_port, start_broker, stop_process, wait_for

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "deploy" / "nginx.conf"

JOBS = 200
PER_BATCH = 20
TOTALS = (60, 80, 100)  # 3, 4 and 5 runs of PER_BATCH items
SLOW_MS = 1500  # each run takes this long, so the kill lands while runs are in flight
KILL_AT = 0.2  # of all runs recorded
PROGRESS_WHILE_DOWN = 0.1  # of all runs, recorded by the other two before the victim restarts
CREATING_AT_ONCE = 10
FINAL = ("completed", "error", "timeout", "cancelled")

# nginx as this test's child: in the foreground, every path it writes under tmp.
MAIN_CONF = """\
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log notice;
{user}
events {{ worker_connections 2048; }}
http {{
    log_format upstreams '$msec $request_method $uri $status [$upstream_addr] [$upstream_status]';
    access_log {tmp}/access.log upstreams;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/jobtrail.conf;
}}
"""

# A line of the `upstreams` log format: msec, method, uri, status, [upstream addresses].
ACCESS_LINE = re.compile(r"(\S+) (\S+) (\S+) (\d+) \[([^\]]*)\] \[[^\]]*\]")

RUNS_RECORDED = "SELECT count(*) FROM events WHERE type = 'BatchRecorded'"
UNFINISHED = "SELECT count(*) FROM job_status WHERE status <> ALL(%(final)s)"
ENDINGS = "SELECT stream_id::text, status, outcome, processed_runs FROM job_status"
# Per job, the run numbers of its BatchRecorded events, in the order they were appended.
RUNS_PER_JOB = """
SELECT stream_id::text, array_agg((data->>'run')::int ORDER BY version)
  FROM events WHERE type = 'BatchRecorded' GROUP BY stream_id
"""


def find_nginx() -> str | None:
    """Debian installs it in /usr/sbin, which a non-root PATH often lacks."""
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def render_site(upstream_ports: list[int], listen_port: int) -> str:
    """deploy/nginx.conf with these ports in its upstream's `server` lines and its `listen` line."""
    text = SITE.read_text()
    ports = iter(upstream_ports)
    server = re.compile(r"^(\s*server\s+)127\.0\.0\.1:\d+(\s[^;]*;)$", re.M)
    text, servers = server.subn(lambda m: f"{m[1]}127.0.0.1:{next(ports)}{m[2]}", text)
    text, listens = re.subn(r"^(\s*listen\s+)80;$", rf"\g<1>127.0.0.1:{listen_port};", text, flags=re.M)
    assert (servers, listens) == (len(upstream_ports), 1), "deploy/nginx.conf changed shape: update render_site"
    return text


class Nginx:
    """nginx in the foreground on a free port, its configuration, pid, logs and temp files under `tmp`."""

    def __init__(self, binary: str, tmp: Path, upstream_ports: list[int]) -> None:
        self.tmp, self.port = tmp, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        tmp.mkdir()
        (tmp / "jobtrail.conf").write_text(render_site(upstream_ports, self.port))
        # Workers run as `user`; when the master is root that is nobody, who cannot enter
        # pytest's private tmp: keep them as root there.
        user = "user root;" if os.geteuid() == 0 else ""
        (tmp / "nginx.conf").write_text(MAIN_CONF.format(tmp=tmp, user=user))
        self.command = [binary, "-e", str(tmp / "error.log"), "-p", f"{tmp}/", "-c", str(tmp / "nginx.conf")]
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        checked = subprocess.run([*self.command, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._answers, "nginx to listen", timeout_s=10)

    def _answers(self) -> bool:
        """nginx answers /metrics itself (403), so asking touches no upstream: one that is not
        up yet would be marked down for fail_timeout."""
        try:
            return httpx.get(f"{self.url}/metrics", timeout=1).status_code == 403
        except httpx.TransportError:
            assert self.process is not None and self.process.poll() is None, (self.tmp / "error.log").read_text()
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # nginx's fast shutdown
            self.process.wait(10)

    def access_log(self) -> list[str]:
        return (self.tmp / "access.log").read_text().splitlines()


def rows(database_url: str, query: str, **params) -> list[tuple]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def recorded(database_url: str) -> int:
    return rows(database_url, RUNS_RECORDED)[0][0]


def unfinished(database_url: str) -> int:
    return rows(database_url, UNFINISHED, final=list(FINAL))[0][0]


def directives(config: str) -> list[str]:
    """The configuration's directives, comments dropped, one per item."""
    text = "\n".join(line.split("#", 1)[0] for line in config.splitlines())
    return [" ".join(d.split()) for d in re.split(r"[;{}]", text) if d.strip()]


def test_the_shipped_config_never_resends_a_delivery_nor_fails_over_on_503() -> None:
    """nginx must not resend a POST a process received (`non_idempotent`): a delivery's
    token presented twice is answered as a copy and runs nothing, so a process that died
    after claiming it would make nginx tell QStash the run was done. And a 503 (the shared
    database is down) is no reason to take processes out of rotation."""
    retries = [d for d in directives(SITE.read_text()) if d.startswith("proxy_next_upstream ")]
    assert retries == ["proxy_next_upstream error timeout"]


def test_the_shipped_config_is_valid_as_is(nginx_binary: str, tmp_path: Path) -> None:
    """Unedited, as a human copies it into nginx's conf.d."""
    (tmp_path / "nginx.conf").write_text(f"events {{}}\nhttp {{ include {SITE}; }}\n")
    command = [nginx_binary, "-t", "-e", str(tmp_path / "error.log"), "-p", f"{tmp_path}/", "-c", "nginx.conf"]
    checked = subprocess.run(command, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


@pytest.fixture
def nginx_binary() -> str:
    binary = find_nginx()
    if binary is None:
        pytest.skip("nginx not found (Debian's package: `apt-get install nginx`; `make test` installs it when missing)")
    return binary


@pytest.fixture
def cluster(nginx_binary: str, database_url: str, tmp_path: Path) -> Iterator[tuple[Nginx, list[Service]]]:
    """The broker, nginx, and three services whose public URL is nginx's: all started, and
    each one's self-probe through nginx arrived, as docs/deploy.md has the reader check."""
    with ExitStack() as stack:
        broker_port = free_port()
        with (tmp_path / "broker.log").open("ab") as log:
            broker = start_broker(broker_port, log)  # a cut-off delivery is retried in ~0.1 s
        stack.callback(stop_process, broker)
        services = []
        for number in range(3):
            (tmp_path / f"service{number}").mkdir()
            services.append(Service(database_url, tmp_path / f"service{number}"))
        nginx = Nginx(nginx_binary, tmp_path / "nginx", [service.port for service in services])
        stack.callback(nginx.stop)
        nginx.start()  # first: each service's self-probe comes back through it
        for service in services:
            # The same settings docs/deploy.md gives each process: one database, one QStash,
            # and nginx's address as the public URL.
            service.env.update(
                JOBTRAIL_PUBLIC_URL=nginx.url,
                QSTASH_URL=f"http://127.0.0.1:{broker_port}",
                QSTASH_TOKEN=DEV_QSTASH_TOKEN,
            )
            stack.callback(service.stop)
            service.start()
        wait_for(lambda: all(deliveries_reach(service) for service in services), "every self-probe", timeout_s=30)
        # nginx started first, so it may have met a process not yet listening and set it
        # aside for fail_timeout: wait until it routes to all three again.
        ports = {service.port for service in services}
        wait_for(lambda: routed_to(nginx) >= ports, "nginx to route to every process", timeout_s=30)
        yield nginx, services


def routed_to(nginx: Nginx) -> set[int]:
    """The ports of the processes that answered the `GET /healthz` requests sent now through
    nginx (six, so that round robin reaches each process it has in rotation)."""
    since = time.time()
    for _ in range(6):
        httpx.get(f"{nginx.url}/healthz", timeout=5)
    ports = set()
    for line in nginx.access_log():
        entry = ACCESS_LINE.fullmatch(line)
        assert entry is not None, line
        msec, method, uri, status, addresses = entry.groups()
        if (method, uri, status) == ("GET", "/healthz", "200") and float(msec) >= since - 0.01:
            ports.add(int(addresses.split(", ")[-1].rsplit(":", 1)[1]))
    return ports


def deliveries_reach(service: Service) -> bool:
    deliveries = httpx.get(f"{service.base_url}/readyz", timeout=5).json()["deliveries"]
    assert deliveries["state"] != "failed", deliveries
    return deliveries["state"] == "ok"


def test_jobs_complete_once_across_three_processes_behind_nginx_while_one_is_killed(cluster, database_url, key):
    nginx, services = cluster
    victim = services[1]
    expected_runs = [TOTALS[i % len(TOTALS)] // PER_BATCH for i in range(JOBS)]
    all_runs = sum(expected_runs)
    started = time.monotonic()
    with httpx.Client(base_url=nginx.url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as api:
        assert_live_stream_flows(api)
        job_ids = asyncio.run(create_jobs(nginx.url, key, [TOTALS[i % len(TOTALS)] for i in range(JOBS)]))
        created = time.monotonic()

        wait_for(lambda: recorded(database_url) >= KILL_AT * all_runs, f"{KILL_AT:.0%} of the runs", timeout_s=60)
        victim.kill()
        killed_at, killed_with = time.monotonic(), recorded(database_url)
        wait_for(
            lambda: recorded(database_url) >= killed_with + PROGRESS_WHILE_DOWN * all_runs,
            "runs recorded while one process is down",
            timeout_s=60,
        )
        restarting_with = recorded(database_url)
        victim.start()
        restarted_at, restarted_with = time.time(), recorded(database_url)
        ready_after = time.monotonic() - started
        # Back in rotation once nginx's fail_timeout has passed: a run or a sweep reaches it.
        wait_for(
            lambda: any(port == victim.port for _, port in answered_by(nginx, since=restarted_at)),
            "the restarted process to answer a delivery through nginx",
            timeout_s=20,
        )

        wait_for(lambda: unfinished(database_url) == 0, "every job to finish", timeout_s=60)
        finished = time.monotonic()
        histories = {job_id: api.get(f"/v1/jobs/{job_id}/events").json() for job_id in job_ids}

    print(
        f"{JOBS} jobs, {all_runs} runs: created in {created - started:.1f} s; killed at {killed_with} runs "
        f"({killed_at - started:.1f} s); restarted at {restarting_with}, ready at {restarted_with} "
        f"({ready_after:.1f} s); all finished after {finished - started:.1f} s; "
        f"deliveries cut off by the kill (502, retried by QStash): {cut_off(nginx)}; "
        f"answered after the restart: {answered_by(nginx, since=restarted_at)}"
    )
    runs_of = dict(zip(job_ids, expected_runs, strict=True))
    endings = {job_id: ending for job_id, *ending in rows(database_url, ENDINGS)}
    assert endings == {job_id: ["completed", "exhausted", runs] for job_id, runs in runs_of.items()}

    # Every run recorded exactly once, in order: no run lost to the kill, none doubled by a
    # redelivery to another process.
    runs_per_job = dict(rows(database_url, RUNS_PER_JOB))
    assert runs_per_job == {job_id: list(range(1, runs + 1)) for job_id, runs in runs_of.items()}

    verified = subprocess.run(
        [JOBTRAIL, "projections", "verify"], env=services[0].env, capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "job_status matches a fresh fold of the log" in verified.stdout

    broken = {job_id: h["chain"] for job_id, h in histories.items() if not h["chain"]["ok"]}
    assert broken == {}
    assert all(h["chain"]["events"] == len(h["events"]) for h in histories.values())

    runs_by_port = {port for (uri, port) in answered_by(nginx) if uri == "/qstash/run"}
    assert runs_by_port == {service.port for service in services}  # every process ran batches


async def create_jobs(url: str, key: str, totals: list[int]) -> list[str]:
    """POST /v1/jobs through nginx, a few at a time, so that every job is running early."""
    slots = asyncio.Semaphore(CREATING_AT_ONCE)

    async def create(client: httpx.AsyncClient, total: int) -> str:
        params = {"total": total, "per_batch": PER_BATCH, "slow_ms": SLOW_MS}
        async with slots:
            response = await client.post("/v1/jobs", json={"kind": "demo.count", "params": params})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
        return await asyncio.gather(*(create(client, total) for total in totals))


def assert_live_stream_flows(api: httpx.Client) -> None:
    """The live stream's first message (an id to resume from) reaches the client through
    nginx while the stream stays open."""
    with api.stream("GET", "/v1/events/stream", timeout=httpx.Timeout(10, read=5)) as stream:
        assert stream.status_code == 200
        first = next(stream.iter_lines())
    assert first.startswith("id:"), first


def answered_by(nginx: Nginx, since: float = 0.0) -> Counter[tuple[str, int]]:
    """Deliveries (POST /qstash/*) answered 200 through nginx since `since`, by route and
    the port of the process that answered."""
    counts: Counter[tuple[str, int]] = Counter()
    for line in nginx.access_log():
        # After a failover nginx lists every upstream it tried: "[a:1, b:2] [502, 200]".
        entry = ACCESS_LINE.fullmatch(line)
        assert entry is not None, line
        msec, method, uri, status, addresses = entry.groups()
        if method == "POST" and uri.startswith("/qstash/") and status == "200" and float(msec) >= since:
            last = addresses.split(", ")[-1]  # the process that answered, after any failover
            counts[(uri, int(last.rsplit(":", 1)[1]))] += 1
    return counts


def cut_off(nginx: Nginx) -> int:
    return sum(" POST /qstash/run 502 " in line for line in nginx.access_log())
