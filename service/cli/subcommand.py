"""How a subcommand is declared: a handler, a one-line summary, a description with an example."""

import argparse
import uuid
from collections.abc import Awaitable, Callable

import msgspec

Handler = Callable[[argparse.Namespace], Awaitable[int]]


def add(subparsers, name: str, handler: Handler, summary: str, description: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name, help=summary, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.set_defaults(handler=handler)
    return parser


def parse_job_id(text: str) -> uuid.UUID:
    """An argument type: a job's id."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a job id (a UUID)") from None


def owner_name(text: str) -> str:
    """An argument type: an owner (a tenant), which is never blank."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an owner must not be empty: name the tenant, e.g. --owner acme")
    return text


def positive(text: str) -> int:
    """An argument type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive whole number")
    return int(text)


def parse_params(text: str) -> dict:
    """An argument type: a job's params, a JSON object."""
    try:
        params = msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise argparse.ArgumentTypeError("--params takes a JSON object, e.g. '{\"total\": 40}'") from None
    if not isinstance(params, dict):
        raise argparse.ArgumentTypeError("--params takes a JSON object, e.g. '{\"total\": 40}'")
    return params
