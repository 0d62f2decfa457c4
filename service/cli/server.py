"""`jobtrail serve`: the HTTP service under uvicorn."""

import argparse
import contextlib
from collections.abc import Iterator

import psycopg
import uvicorn

from service.app import create_app, end_live_streams
from service.auth.dev_key import DEV_OWNER, ensure_dev_key
from service.cli.header_limits import HeaderLimitedHttpTools
from service.cli.subcommand import add
from service.settings import Settings
from service.store.database import resolve_database_url
from service.store.migrate import migrate


async def serve_command(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    host = args.host or settings.host
    port = args.port or settings.port
    url = resolve_database_url(settings)
    await migrate(url)
    base = f"http://{host}:{port}"
    print(f"jobtrail listening on {base}  (API docs: {base}/schema)")
    if args.dev:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            key = await ensure_dev_key(conn, settings.data_dir)
        print(f"development API key for owner '{DEV_OWNER}' (kept in {settings.data_dir / 'dev-api-key'}):")
        print(f"  {key}")
        print(f"dashboard: {base}/ (sign in with that key)")
        print("try:")
        print(
            f"  curl -s -X POST {base}/v1/jobs -H 'Authorization: Bearer {key}' "
            "-H 'Content-Type: application/json' "
            '-d \'{"kind": "demo.count", "params": {"total": 100, "per_batch": 20}}\''
        )
    app = create_app(settings)
    # log_config=None: uvicorn's lines go through the app's structlog renderer, not its own.
    # HeaderLimitedHttpTools: httptools, with a bound on each request's head (431 past it).
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=HeaderLimitedHttpTools,
        log_level="info",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    await _Server(config, app).serve()
    return 0


class _Server(uvicorn.Server):
    """uvicorn waits for open responses before the lifespan's shutdown, and live streams
    never end by themselves: end them first, so that stopping is prompt.

    uvicorn raises a signal it stopped on once more after stopping, for a host program's
    handlers; `serve` is the whole program, so a SIGTERM it stopped on cleanly exits 0.
    """

    def __init__(self, config: uvicorn.Config, app) -> None:
        super().__init__(config)
        self.app = app

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()

    async def shutdown(self, sockets=None) -> None:
        end_live_streams(self.app)
        await super().shutdown(sockets)


def register(subparsers) -> None:
    serve = add(
        subparsers,
        "serve",
        serve_command,
        "run the HTTP service",
        "Run the HTTP API under uvicorn (migrations are applied first).\n"
        "Host and port default to JOBTRAIL_HOST/JOBTRAIL_PORT, else 127.0.0.1:8000.\n\n"
        "example:\n  jobtrail serve --port 8080 --dev",
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000)")
    serve.add_argument("--dev", action="store_true", help="print a development API key and a curl line")
