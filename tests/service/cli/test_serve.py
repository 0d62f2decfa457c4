"""`jobtrail serve` faults at start: a port in use is one line, before anything else happens.

Each case runs the command in a subprocess, as a user would, against an empty database:
that it stays empty shows that nothing (no migration, no broker) ran before the refusal.
"""

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from service.settings import Settings
from tests.service.cli.test_install import REPO, TABLE_EXISTS, jobtrail


@pytest.fixture
def taken() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(tmp_path: Path, database_url: str, *args: str, **env: str):
    return jobtrail("serve", *args, cwd=tmp_path, pythonpath=[REPO], DATABASE_URL=database_url, timeout=30, **env)


def assert_nothing_started(done, database_url: str) -> None:
    assert done.returncode == 1
    assert done.stdout == ""  # no "listening", no key, no curl line
    assert done.stderr.count("\n") == 1
    with psycopg.connect(database_url) as conn:
        assert conn.execute(TABLE_EXISTS).fetchone() == (False,)


def test_the_api_port_in_use_is_one_line_naming_it_and_nothing_starts(tmp_path, empty_database_url, taken):
    done = serve(tmp_path, empty_database_url, "--port", str(taken), JOBTRAIL_BROKER_PORT=str(free_port()))

    assert_nothing_started(done, empty_database_url)
    assert done.stderr == f"jobtrail: error: port {taken} is in use; it is the API's port (--port or JOBTRAIL_PORT)\n"


def test_the_broker_port_in_use_is_one_line_naming_it_and_nothing_starts(tmp_path, empty_database_url, taken):
    done = serve(tmp_path, empty_database_url, JOBTRAIL_PORT=str(free_port()), JOBTRAIL_BROKER_PORT=str(taken))

    assert_nothing_started(done, empty_database_url)
    assert done.stderr == (
        f"jobtrail: error: port {taken} is in use; it is the local QStash broker's port "
        "(JOBTRAIL_BROKER_PORT; 0 picks a free one)\n"
    )


def test_the_help_examples_use_no_port_the_broker_or_the_api_takes_by_default(tmp_path):
    done = jobtrail("serve", "--help", cwd=tmp_path, pythonpath=[REPO])

    examples = done.stdout.split("example:\n", 1)[1]
    ports = [int(port) for port in re.findall(r"--port (\d+)", examples)]
    defaults = Settings()
    assert done.returncode == 0 and ports
    assert defaults.broker_port not in ports and defaults.port not in ports
