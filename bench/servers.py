"""Server processes for the HTTP benches: a free port, a start that waits, a clean stop.

A bench file runs its own servers by re-invoking itself with `--serve WHICH --port N`,
so the server under test never shares a process (or a core's GIL) with the load.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the {what} server did not start") from None
            time.sleep(0.1)


@contextmanager
def server(bench: Path, which: str, url: str) -> Iterator[int]:
    """Run `bench --serve which` on a free port against `url`; yield the port."""
    with server_process(bench, which, url) as (port, _pid):
        yield port


@contextmanager
def server_process(bench: Path, which: str, url: str) -> Iterator[tuple[int, int]]:
    """As `server`, yielding the port and the server's process id."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(bench), "--serve", which, "--port", str(port)],
        env={
            **os.environ,
            "BENCH_DATABASE_URL": url,
            "PYTHONPATH": os.pathsep.join(filter(None, (str(HERE), os.environ.get("PYTHONPATH")))),
        },
    )
    try:
        wait_for_port(port, process, which)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_ready(url: str, process: subprocess.Popen, what: str, log: Path | None = None, timeout_s: float = 60) -> None:
    """Until `url` answers 200; the bench ends if the process does or time runs out first."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            detail = f":\n{log.read_text()[-2000:]}" if log is not None else ""
            raise SystemExit(f"{what} did not get ready{detail}")
        time.sleep(0.1)


def stop(process: subprocess.Popen, timeout_s: float = 30) -> None:
    """SIGTERM, and SIGKILL if it has not ended within `timeout_s`."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def jobtrail_serve(
    command: list[str], url: str, data_dir: Path, env: dict[str, str], timeout_s: float = 60
) -> Iterator[tuple[str, subprocess.Popen]]:
    """A `jobtrail serve` on free ports against `url`, logging to data_dir/server.log; yields
    its base URL and process once /readyz answers, and stops it after."""
    port = free_port()
    broker_port = int(env.get("JOBTRAIL_BROKER_PORT") or free_port())  # a bench that talks to the broker picks it
    base = f"http://127.0.0.1:{port}"
    env = env | {
        "DATABASE_URL": url,
        "JOBTRAIL_DATA_DIR": str(data_dir),
        "JOBTRAIL_PORT": str(port),
        "JOBTRAIL_PUBLIC_URL": base,
        "JOBTRAIL_BROKER_PORT": str(broker_port),
    }
    log = data_dir / "server.log"
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    try:
        wait_ready(f"{base}/readyz", process, "jobtrail serve", log, timeout_s)
        yield base, process
    finally:
        stop(process)
