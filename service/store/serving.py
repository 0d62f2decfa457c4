"""Whether a jobtrail service is using a database: its connections say so by name.

Every connection of the service's pool and of its live feed carries the application_name
`jobtrail serve`, so pg_stat_activity tells who is connected (for an operator too). A
process that must not share a database with a running service, the in-process demo,
counts those sessions before it writes. PostgreSQL shows a session's application_name to
every role (its query only to the same role or pg_read_all_stats), so the count does not
depend on who runs the command.
"""

from psycopg import AsyncConnection
from psycopg.conninfo import make_conninfo

SERVICE_APPLICATION_NAME = "jobtrail serve"

SERVICE_SESSIONS = """
SELECT count(*) FROM pg_stat_activity
 WHERE datname = current_database() AND application_name = %(name)s
"""


def as_service(conninfo: str) -> str:
    """The same connection string, naming its sessions as the service's."""
    return make_conninfo(conninfo, application_name=SERVICE_APPLICATION_NAME)


async def service_sessions(conn: AsyncConnection) -> int:
    """Sessions a running service holds on this database (0: none is running on it)."""
    cursor = await conn.execute(SERVICE_SESSIONS, {"name": SERVICE_APPLICATION_NAME})
    row = await cursor.fetchone()
    return row[0] if row else 0
