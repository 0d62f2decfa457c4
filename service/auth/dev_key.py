"""The development API key that `make run` prints: created once, kept in the data dir.

A key kept from an earlier database (another DATABASE_URL, a wiped data dir) no
longer authenticates; then a new one is created and kept instead.
"""

from pathlib import Path

from psycopg import AsyncConnection

from service.auth.keys import Scope, authenticate, create_key

DEV_OWNER = "dev"
DEV_SCOPES = (Scope.JOBS_WRITE, Scope.JOBS_READ, Scope.AUDIT_READ)


async def ensure_dev_key(conn: AsyncConnection, data_dir: Path) -> str:
    path = data_dir / "dev-api-key"
    if path.exists():
        key = path.read_text().strip()
        if await authenticate(conn, key) is not None:
            return key
    key = await create_key(conn, DEV_OWNER, DEV_SCOPES)
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key
