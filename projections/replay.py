"""Fold the whole log into job states, fast.

The server aggregates each stream's events into one JSON array (in version order), so
Python decodes a stream with one msgspec call and folds it with plain `evolve`. COPY's
text format escapes a backslash as two; jsonb text has no raw tabs or newlines (it
escapes them inside strings), so undoubling backslashes is the only unescaping needed.
"""

from uuid import UUID

from psycopg import AsyncConnection

from domain.events import list_decoder
from domain.job import fold
from domain.state import JobState

COPY_STREAMS = """
COPY (
    SELECT stream_id, '[' || string_agg(data::text, ',' ORDER BY version) || ']'
      FROM events
     GROUP BY stream_id
) TO STDOUT
"""


async def replay_all(conn: AsyncConnection) -> dict[UUID, JobState]:
    """Every stream's state, folded from its events."""
    states: dict[UUID, JobState] = {}
    async with conn.cursor().copy(COPY_STREAMS) as copy:
        async for row in copy:
            line = bytes(row)
            payload = line[37:].rstrip(b"\n")
            if b"\\" in payload:
                payload = payload.replace(b"\\\\", b"\\")
            states[UUID(line[:36].decode())] = fold(list_decoder.decode(payload))
    return states
