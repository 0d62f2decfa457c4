"""`jobtrail qstash-dev`: the local QStash-compatible broker alone, with the dev credentials."""

import argparse
import os

from service.broker import BrokerConfig, serve_broker
from service.cli.subcommand import add

RETENTION_VARIABLE = "JOBTRAIL_BROKER_RETENTION_S"


async def qstash_dev_command(args: argparse.Namespace) -> int:
    config = BrokerConfig(time_scale=args.time_scale, retention_s=args.retention_s)
    print(f"local QStash broker listening on http://{args.host}:{args.port}")
    print(f"  QSTASH_URL=http://{args.host}:{args.port}")
    print(f"  QSTASH_TOKEN={config.token}")
    print(f"  QSTASH_CURRENT_SIGNING_KEY={config.current_signing_key}")
    print(f"  QSTASH_NEXT_SIGNING_KEY={config.next_signing_key}")
    await serve_broker(args.host, args.port, config)
    return 0


def register(subparsers) -> None:
    command = add(
        subparsers,
        "qstash-dev",
        qstash_dev_command,
        "run a local QStash-compatible broker",
        "Run an in-memory QStash stand-in (publish, queues, schedules, flow control, signed\n"
        "delivery with retries, DLQ, failure callbacks) with the official dev server's token and signing keys.\n\n"
        "example:\n  jobtrail qstash-dev --port 8080",
    )
    command.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    command.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    command.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiply every delay and retry backoff by this (0.001 for fast tests; default 1)",
    )
    command.add_argument(
        "--retention-s",
        type=_retention_s,
        default=os.environ.get(RETENTION_VARIABLE, "300"),
        help=f"keep finished messages readable this long (default ${RETENTION_VARIABLE} or 300)",
    )


def _retention_s(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= seconds <= 86400:
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds, not {text}")
    return seconds
