"""The HTTP server of one serving process: uvicorn on a socket `serve` bound, with our protocol.

The same in every process that serves, the only one or one of several workers: httptools
with a bound on each request's head (service/cli/header_limits.py), uvicorn's lines
through the app's renderer, and live streams ended before connections are drained. At
SIGTERM open requests get JOBTRAIL_SHUTDOWN_GRACE_S to finish; uvicorn then cancels
them (a delivery cut off so answers 500 or nothing, and QStash retries it).
"""

import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from litestar import Litestar

from service.app import end_live_streams
from service.cli.header_limits import HeaderLimitedHttpTools


class HttpServer(uvicorn.Server):
    """uvicorn waits for open responses before the lifespan's shutdown, and live streams
    never end by themselves: end them first, so that stopping is prompt.

    uvicorn raises a signal it stopped on once more after stopping, for a host program's
    handlers; here the process ends when serving does, so a SIGTERM it stopped on cleanly
    exits 0.
    """

    def __init__(self, app: Litestar, grace_s: int) -> None:
        # log_config=None: uvicorn's lines go through the app's structlog renderer, not its own.
        super().__init__(
            uvicorn.Config(
                app,
                http=HeaderLimitedHttpTools,
                log_level="info",
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=grace_s,
            )
        )
        self.app = app

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        end_live_streams(self.app)
        await super().shutdown(sockets)
