"""`jobtrail qstash-dev`: the local QStash-compatible broker alone, with the dev credentials."""

import argparse

from service.broker import BrokerConfig, serve_broker
from service.cli.subcommand import add


async def qstash_dev_command(args: argparse.Namespace) -> int:
    config = BrokerConfig(time_scale=args.time_scale)
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
