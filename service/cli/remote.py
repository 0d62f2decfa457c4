"""Whether a command acts on a service over HTTP or on the database, and the client it then uses.

With `JOBTRAIL_URL` and `JOBTRAIL_API_KEY` set (or `--url` and `--key`), the commands that
have a remote mode call the API as that key, with its tenancy and scopes; without them
they open the database as ever. This module stays cheap to import: the client (and
httpx) load only when a command goes remote.
"""

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobtrail.client import AsyncClient

URL_ENV, KEY_ENV = "JOBTRAIL_URL", "JOBTRAIL_API_KEY"


class RemoteFailure(Exception):
    """A remote command could not be done: the service refused it or could not be reached."""


@dataclass(frozen=True)
class Remote:
    url: str
    key: str


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("over HTTP, instead of the database")
    group.add_argument("--url", help=f"the service's base URL (default ${URL_ENV})")
    group.add_argument("--key", help=f"an API key; the command acts as its owner (default ${KEY_ENV}, safer)")


def target(args: argparse.Namespace) -> Remote | None:
    """The service to call, or None to act on the database."""
    url = getattr(args, "url", None) or os.environ.get(URL_ENV)
    key = getattr(args, "key", None) or os.environ.get(KEY_ENV)
    if not url and not key:
        return None
    if not url or not key:
        raise RemoteFailure(f"a remote service needs both {URL_ENV} and {KEY_ENV} (or --url and --key)")
    return Remote(url, key)


def refuse(option: str, why: str) -> None:
    raise RemoteFailure(f"{option} does not apply over HTTP: {why}")


@asynccontextmanager
async def client(remote: Remote) -> AsyncIterator["AsyncClient"]:
    """The client for `remote`; what it raises becomes one line on stderr."""
    from jobtrail.client import AsyncClient, JobtrailError

    try:
        async with AsyncClient(remote.url, remote.key, timeout=30) as api:
            yield api
    except JobtrailError as error:
        raise RemoteFailure(str(error)) from None
