"""`jobtrail serve --workers N`: N processes accept on the one socket `serve` bound, kept at N.

Each worker is a fresh interpreter (multiprocessing's spawn: none of the supervisor's
event loop, threads or connections is inherited), given the settings `serve` resolved
(the database URL, so that an embedded PostgreSQL is started and stopped by the
supervisor alone; the port bound; the local broker's port) and the listening socket.
The kernel hands each new connection to one of the workers waiting on it.

A worker that ends while the supervisor runs is replaced at once, after a pause that
grows while replacements keep dying young (a worker that cannot start must not spin the
CPU). A worker whose supervisor is gone (kill -9) stops itself, as on SIGTERM.

SIGTERM or SIGINT to the supervisor: every worker gets SIGTERM and stops as a lone
process does (stops accepting, ends live streams, lets open requests finish for up to
JOBTRAIL_SHUTDOWN_GRACE_S, stops its background work); the supervisor waits for them
that long plus STOP_MARGIN_S, kills any still running, and returns, so that `serve` stops the local
broker after the last process that publishes to it.

Not uvicorn's own supervisor (uvicorn.supervisors.Multiprocess): its workers run a plain
uvicorn.Server, so HttpServer's prompt end of live streams and clean exit would not
apply; its loop blocks the main thread, where the local broker and the rescue of lost
runs need an event loop; and it waits for stopping workers without a bound.
"""

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess

from service.app import create_app
from service.cli.http_server import HttpServer
from service.settings import Settings

logger = logging.getLogger("jobtrail.workers")

# A worker's own stop is bounded by the grace for requests, then about 5 s for its
# background work and connections.
STOP_MARGIN_S = 10
WATCH_S = 0.1
# A worker that ended sooner than this after its start died young: its replacement waits.
YOUNG_S = 5.0
FIRST_PAUSE_S = 1.0
MAX_PAUSE_S = 30.0
ORPHAN_CHECK_S = 1.0


def serve_worker(settings: Settings, sock: socket.socket, supervisor_pid: int) -> None:
    """A worker's whole life: the spawned process runs this."""
    threading.Thread(target=_stop_when_orphaned, args=(supervisor_pid,), name="orphan watch", daemon=True).start()
    app = create_app(settings)
    HttpServer(app, settings.shutdown_grace_s).run(sockets=[sock])


def _stop_when_orphaned(supervisor_pid: int) -> None:
    while os.getppid() == supervisor_pid:
        time.sleep(ORPHAN_CHECK_S)
    os.kill(os.getpid(), signal.SIGTERM)


class _Slot:
    def __init__(self, number: int) -> None:
        self.number = number
        self.process: BaseProcess | None = None
        self.started = 0.0
        self.pause_s = 0.0
        self.restart_at: float | None = None


class Supervisor:
    def __init__(self, settings: Settings, sock: socket.socket, count: int) -> None:
        self.settings, self.sock, self.count = settings, sock, count
        self.context = multiprocessing.get_context("spawn")
        self.slots = [_Slot(number) for number in range(1, count + 1)]

    async def run(self) -> None:
        """Serve until SIGTERM or SIGINT, then stop every worker."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        for sig in previous:
            loop.add_signal_handler(sig, stop.set)  # a second one while stopping changes nothing
        try:
            for slot in self.slots:
                self._start(slot)
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(WATCH_S):
                        await stop.wait()
                if not stop.is_set():
                    for slot in self.slots:
                        self._tend(slot)
        finally:
            await self._stop_all()
            for sig, handler in previous.items():
                loop.remove_signal_handler(sig)
                signal.signal(sig, handler)

    def _start(self, slot: _Slot) -> None:
        process = self.context.Process(
            target=serve_worker,
            args=(self.settings, self.sock, os.getpid()),
            name=f"jobtrail worker {slot.number}",
            daemon=True,  # should the supervisor end abruptly, multiprocessing stops them with it
        )
        process.start()
        slot.process, slot.started, slot.restart_at = process, time.monotonic(), None
        logger.info("worker %d started (pid %d)", slot.number, process.pid)

    def _tend(self, slot: _Slot) -> None:
        """Replace the slot's worker if it ended, once its pause is over."""
        now = time.monotonic()
        if slot.restart_at is None:
            process = slot.process
            if process is None or process.is_alive():
                return
            lived_s = now - slot.started
            slot.pause_s = min(max(slot.pause_s * 2, FIRST_PAUSE_S), MAX_PAUSE_S) if lived_s < YOUNG_S else 0.0
            slot.restart_at = now + slot.pause_s
            logger.warning(
                "worker %d (pid %d) ended (%s) after %.0f s; a new one starts%s",
                slot.number,
                process.pid,
                _describe_exit(process.exitcode),
                lived_s,
                f" in {slot.pause_s:.0f} s" if slot.pause_s else "",
            )
        if now >= slot.restart_at:
            self._start(slot)

    async def _stop_all(self) -> None:
        running = [slot.process for slot in self.slots if slot.process is not None and slot.process.is_alive()]
        for process in running:
            process.terminate()  # SIGTERM
        self.sock.close()  # the workers hold their own copies until they stop
        stop_timeout_s = self.settings.shutdown_grace_s + STOP_MARGIN_S
        deadline = time.monotonic() + stop_timeout_s
        while any(process.is_alive() for process in running) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for process in running:
            if process.is_alive():
                logger.warning("worker pid %d did not stop within %.0f s: killed", process.pid, stop_timeout_s)
                process.kill()
            process.join(5)


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"
