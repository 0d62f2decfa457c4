"""Drift check: compare every live status row with a fresh fold of its stream."""

from typing import Any
from uuid import UUID

import msgspec
from psycopg import AsyncConnection

from domain.state import decoder as state_decoder
from projections import job_status
from projections.replay import replay_all

SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


class Drift(msgspec.Struct, frozen=True):
    stream_id: UUID
    columns: list[str]  # the columns that differ; ["missing"] or ["orphaned"] for absent rows


async def find_drift(conn: AsyncConnection) -> list[Drift]:
    """Every job whose status row differs from its log, and in which columns."""
    async with conn.transaction():
        await conn.execute(SNAPSHOT)  # fold and rows from one snapshot
        expected = await replay_all(conn)
        live = await job_status.live_rows(conn)
    drift = [Drift(sid, ["missing"]) for sid in expected.keys() - live.keys()]
    drift += [Drift(sid, ["orphaned"]) for sid in live.keys() - expected.keys()]
    for sid in expected.keys() & live.keys():
        differing = _differing(job_status.row(sid, expected[sid]), live[sid])
        if differing:
            drift.append(Drift(sid, differing))
    return sorted(drift, key=lambda d: str(d.stream_id))


def _differing(wanted: tuple[Any, ...], found: tuple[Any, ...]) -> list[str]:
    differing = []
    for column, want, got in zip(job_status.COLUMNS, wanted, found, strict=True):
        if column == "state":
            want, got = state_decoder.decode(want), state_decoder.decode(got)
        if want != got:
            differing.append(column)
    return differing
