"""`jobtrail serve`: the HTTP service, as one process or several sharing one socket, and the local broker.

A start goes in this order, so that each fault at start is one line and nothing is left
half done:

1. the migrations are found (an incomplete install stops here);
2. the API's port and, with no QSTASH_TOKEN, the local broker's port are bound: a port in
   use is one line naming it and whose it is, exit 1, before anything else happens;
3. the database is resolved (an embedded PostgreSQL started) and the ports bound go into
   the settings, so that the public URL follows the port served unless
   JOBTRAIL_PUBLIC_URL is set;
4. "jobtrail listening on …": true from here, since the port is bound;
5. the local broker serves on its socket, and the API as this process or as N workers
   (service/cli/workers.py). Each serving process reaches the database in the background
   (service/store/database_start.py), answering 503 until it does; this process, once
   it does, prints the development key (--dev) and re-sends the runs an earlier local
   broker took with it (service/local_broker.py).

SIGTERM, at any point, ends `serve` with exit 0 and stops the embedded PostgreSQL it
started (Python's exit hooks run); while serving, open requests finish first.
"""

import argparse
import asyncio
import contextlib
import errno
import logging
import signal
import socket
from collections.abc import AsyncIterator
from datetime import datetime
from types import FrameType

import msgspec
import psycopg

from service.app import create_app
from service.auth.dev_key import DEV_OWNER, ensure_dev_key
from service.cli.http_server import HttpServer
from service.cli.subcommand import add, positive
from service.cli.workers import Supervisor
from service.clock import now
from service.local_broker import LocalBroker, local_broker, resend_lost_notifications, resend_lost_runs
from service.logs import configure_logging
from service.qstash.client import close_client, qstash_client
from service.settings import MAX_WORKERS, Settings
from service.store.database import resolve_database_url
from service.store.database_start import DatabaseStart, reach_database
from service.store.migrate import packaged, read_migrations

logger = logging.getLogger("jobtrail.serve")

BACKLOG = 2048
API_PORT = "the API's port (--port or JOBTRAIL_PORT)"
BROKER_PORT = "the local QStash broker's port (JOBTRAIL_BROKER_PORT; 0 picks a free one)"


class CannotListen(Exception):
    """A port `serve` needs is taken, or the address cannot be listened on."""


async def serve_command(args: argparse.Namespace) -> int:
    previous = signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        return await _serve(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """SIGTERM before the server takes it over (or after): exit 0 through Python's exit
    hooks, which stop an embedded PostgreSQL this process started."""
    raise SystemExit(0)


async def _serve(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    configure_logging(settings)
    host = args.host or settings.host
    workers = args.workers or settings.workers
    read_migrations(packaged())
    api = listen(host, settings.port if args.port is None else args.port, API_PORT)
    broker = listen("127.0.0.1", settings.broker_port, BROKER_PORT) if settings.embedded_broker else None
    settings = msgspec.structs.replace(
        settings,
        host=host,
        port=api.getsockname()[1],
        broker_port=broker.getsockname()[1] if broker else settings.broker_port,
        workers=workers,
        database_url=resolve_database_url(settings),
    )
    served = _url(host, settings.port)
    print(
        f"jobtrail listening on {served}  (API docs: {served}/schema)"
        + (f"; {workers} workers" if workers > 1 else "")
        + (f"; QStash delivers to {settings.base_url}" if settings.base_url != served else ""),
        flush=True,
    )
    async with _beside_serving(settings, broker, dev=args.dev, served=served) as running:
        if workers == 1:
            # A scaled broker's clock reaches only a serving process in its own process.
            fire_clock = running.schedule_clock if running else None
            app = create_app(settings, fire_clock=fire_clock)
            await HttpServer(app, settings.shutdown_grace_s).serve(sockets=[api])
        else:
            await Supervisor(settings, api, workers).run()
    return 0


def listen(host: str, port: int, whose: str) -> socket.socket:
    """A socket bound to (host, port) and listening; CannotListen says why not in one line."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise CannotListen(f"port {port} is in use; it is {whose}") from None
        raise CannotListen(f"cannot listen on {host} port {port} ({error.strerror}); it is {whose}") from None
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def _beside_serving(
    settings: Settings, broker: socket.socket | None, *, dev: bool, served: str
) -> AsyncIterator[LocalBroker | None]:
    """The local broker for every serving process (yielded, if any), stopped after them;
    and what waits for the database: the development key, the rescue of the runs an
    earlier broker lost."""
    async with contextlib.AsyncExitStack() as stack:
        started = running = None
        if broker is not None:
            started = now()  # before the broker takes its first message
            running = await stack.enter_async_context(local_broker(settings, broker))
        waiting = asyncio.create_task(_once_the_database_answers(settings, dev, served, started))
        try:
            yield running
        finally:
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)


async def _once_the_database_answers(
    settings: Settings, dev: bool, served: str, broker_started: datetime | None
) -> None:
    url = settings.database_url
    assert url is not None
    await reach_database(url, DatabaseStart(), quiet=True)  # the serving processes say it
    if dev:
        await _print_dev_key(url, settings, served)
    if broker_started is not None:
        client = qstash_client(settings.token, settings.broker_url, local_broker=True)
        try:
            try:
                await resend_lost_runs(url, client, broker_started)
            except Exception as error:  # the sweeper rescues them later
                logger.warning("the runs lost with an earlier local broker were not re-sent (%s)", type(error).__name__)
            try:
                await resend_lost_notifications(url, client, broker_started)
            except Exception as error:  # nothing else will: the next start tries again
                logger.warning(
                    "the notifications lost with an earlier local broker were not re-sent (%s)", type(error).__name__
                )
        finally:
            await close_client(client)


async def _print_dev_key(url: str, settings: Settings, served: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        key = await ensure_dev_key(conn, settings.data_dir)
    lines = [
        f"development API key for owner '{DEV_OWNER}' (kept in {settings.data_dir / 'dev-api-key'}):",
        f"  {key}",
        f"dashboard: {served}/ (sign in with that key)",
        "try:",
        f"  curl -s -X POST {served}/v1/jobs -H 'Authorization: Bearer {key}' "
        "-H 'Content-Type: application/json' "
        '-d \'{"kind": "demo.count", "params": {"total": 100, "per_batch": 20}}\'',
    ]
    print("\n".join(lines), flush=True)


def _workers(text: str) -> int:
    count = positive(text)
    if count > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"at most {MAX_WORKERS} workers")
    return count


def register(subparsers) -> None:
    serve = add(
        subparsers,
        "serve",
        serve_command,
        "run the HTTP service",
        "Run the HTTP API under uvicorn, as one process or --workers processes sharing the\n"
        "port. With no QSTASH_TOKEN it also runs the local QStash broker (once, whatever\n"
        "the number of workers) on JOBTRAIL_BROKER_PORT (default 8080). Migrations are\n"
        "applied as soon as the database answers; until then /readyz answers 503.\n"
        "Host and port default to JOBTRAIL_HOST/JOBTRAIL_PORT, else 127.0.0.1:8000;\n"
        "QStash delivers to JOBTRAIL_PUBLIC_URL, else to the address served.\n\n"
        "example:\n  jobtrail serve --dev\n  jobtrail serve --host 0.0.0.0 --port 8100 --workers 4",
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000; 0: any free port)")
    serve.add_argument(
        "--workers",
        type=_workers,
        help=f"processes serving the API, 1 to {MAX_WORKERS} (default JOBTRAIL_WORKERS, else 1)",
    )
    serve.add_argument("--dev", action="store_true", help="print a development API key and a curl line")
