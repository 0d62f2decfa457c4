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
