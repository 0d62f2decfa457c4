"""How a subcommand is declared: a handler, a one-line summary, a description with an example."""

import argparse
from collections.abc import Awaitable, Callable

Handler = Callable[[argparse.Namespace], Awaitable[int]]


def add(subparsers, name: str, handler: Handler, summary: str, description: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name, help=summary, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.set_defaults(handler=handler)
    return parser
