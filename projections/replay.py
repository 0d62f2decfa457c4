"""Fold the whole log into job states, fast: COPY out, batch decode, plain evolve.

COPY's text format escapes a backslash as two; jsonb text has no raw tabs or
newlines (it escapes them inside strings), so undoubling backslashes is the only
unescaping a row needs.
"""

from collections.abc import Iterator
from uuid import UUID

from psycopg import AsyncConnection

from domain.events import list_decoder
from domain.job import fold
from domain.state import JobState

COPY_LOG = """
COPY (SELECT stream_id, data::text FROM events ORDER BY stream_id, version) TO STDOUT
"""


async def replay_all(conn: AsyncConnection) -> dict[UUID, JobState]:
    """Every stream's state, folded from its events."""
    states: dict[UUID, JobState] = {}
    pending: list[bytes] = []
    async with conn.cursor().copy(COPY_LOG) as copy:
        tail = b""
        async for block in copy:
            lines = (tail + bytes(block)).split(b"\n")
            tail = lines.pop()
            pending.extend(lines)
            if len(pending) >= 20_000:
                _fold_complete_streams(pending, states)
    _fold_streams(pending, states)
    return states


def _fold_complete_streams(lines: list[bytes], states: dict[UUID, JobState]) -> None:
    """Fold all but the last stream in `lines` (it may continue in the next block)."""
    last = lines[-1][:36]
    cut = len(lines)
    while cut and lines[cut - 1][:36] == last:
        cut -= 1
    if cut:
        _fold_streams(lines[:cut], states)
        del lines[:cut]


def _fold_streams(lines: list[bytes], states: dict[UUID, JobState]) -> None:
    for stream_id, payloads in _by_stream(lines):
        events = list_decoder.decode(b"[" + b",".join(payloads) + b"]")
        states[UUID(stream_id.decode())] = fold(events)


def _by_stream(lines: list[bytes]) -> Iterator[tuple[bytes, list[bytes]]]:
    current, payloads = b"", []
    for line in lines:
        stream_id, payload = line[:36], line[37:]
        if b"\\" in payload:
            payload = payload.replace(b"\\\\", b"\\")
        if stream_id != current:
            if payloads:
                yield current, payloads
            current, payloads = stream_id, []
        payloads.append(payload)
    if payloads:
        yield current, payloads
