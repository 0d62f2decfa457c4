"""The event store against a real PostgreSQL: what an append writes, and what it refuses."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from domain.commands import AnyCommand, Cancel, RecordBatch, StartRun
from domain.events import AnyEvent, JobCancelled, JobCreated
from domain.job import decide, fold
from domain.kinds import KindConfig, create_job
from projections.chain import link_hash, verify
from projections.log import Metadata, link, read_stream
from service.cli.demo import run_demo
from service.jobs.dispatch import messages_for
from service.store.event_store import (
    ConcurrencyConflict,
    DuplicateIdempotencyKey,
    DuplicateMessage,
    InboxEntry,
    OutboxMessage,
    append,
    record_inbox,
)
from service.store.job_status import load

pytestmark = pytest.mark.anyio

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
CONFIG = KindConfig(max_runs=5, deadline_s=None)
ACTOR = Metadata(actor="ada")


def creating(owner: str = "ada", *, params: dict[str, Any] | None = None, key: str | None = None):
    return create_job("crawl", CONFIG, owner=owner, at=T0, params=params, idempotency_key=key)


def batch(run: int, minutes: int) -> RecordBatch:
    return RecordBatch(at=T0 + timedelta(minutes=minutes), run=run, results=3, has_more=True, cursor="c")


async def apply(
    conn: AsyncConnection,
    stream_id: UUID,
    command: AnyCommand,
    metadata: Metadata = ACTOR,
    *,
    inbox: InboxEntry | None = None,
) -> list[AnyEvent]:
    """Load, decide and append once, with the outbox rows the decision calls for."""
    state = await load(conn, stream_id)
    events = decide(command, state)
    after = fold(events, state)
    outbox = messages_for(stream_id, events, after)
    await append(conn, stream_id, state.version, events, after, metadata, outbox=outbox, inbox=inbox)
    return events


async def one_value(conn: AsyncConnection, query: str, params: Any = None) -> Any:
    cursor = await conn.execute(query, params)
    found = await cursor.fetchone()
    assert found is not None
    return found[0]


async def footprint(conn: AsyncConnection, stream_id: UUID) -> tuple:
    """Everything an append may write for a stream: events, status row, outbox and inbox rows."""
    params = {"s": stream_id}
    events = await (
        await conn.execute("SELECT position, hash FROM events WHERE stream_id = %(s)s ORDER BY position", params)
    ).fetchall()
    status = await (
        await conn.execute("SELECT *, state::text FROM job_status WHERE stream_id = %(s)s", params)
    ).fetchall()
    outbox = await (await conn.execute("SELECT * FROM outbox WHERE stream_id = %(s)s ORDER BY id", params)).fetchall()
    inbox = await (
        await conn.execute("SELECT * FROM inbox WHERE stream_id = %(s)s ORDER BY message_id", params)
    ).fetchall()
    return events, status, outbox, inbox


async def test_an_append_then_a_load_returns_the_state_folded_from_the_appended_events(
    pool: AsyncConnectionPool,
) -> None:
    stream_id = uuid4()
    async with pool.connection() as conn:
        history = await apply(conn, stream_id, creating())
        history += await apply(conn, stream_id, StartRun(at=T0 + timedelta(minutes=1), run=1))
        history += await apply(conn, stream_id, batch(1, 2))
        state = await load(conn, stream_id)
        recorded = await read_stream(conn, stream_id)
    assert state == fold(history)
    assert state.version == len(history) == 4
    assert [e.event for e in recorded] == history
    assert [e.version for e in recorded] == [1, 2, 3, 4]


async def test_read_stream_returns_the_whole_stream_a_prefix_to_a_version_and_the_stream_as_of_an_instant(
    pool: AsyncConnectionPool,
) -> None:
    stream_id = uuid4()
    async with pool.connection() as conn:
        await apply(conn, stream_id, creating())
        await apply(conn, stream_id, StartRun(at=T0 + timedelta(minutes=1), run=1))
        await asyncio.sleep(0.002)
        instant = await one_value(conn, "SELECT clock_timestamp()")
        await asyncio.sleep(0.002)
        await apply(conn, stream_id, batch(1, 2))
        whole = await read_stream(conn, stream_id)
        to_version = await read_stream(conn, stream_id, to_version=3)
        as_of = await read_stream(conn, stream_id, as_of=instant)
        before_anything = await read_stream(conn, stream_id, as_of=instant - timedelta(days=1))
    assert [e.version for e in whole] == [1, 2, 3, 4]
    assert to_version == whole[:3]
    assert as_of == whole[:2]
    assert before_anything == []


async def test_the_metadata_of_an_append_is_stored_on_every_one_of_its_events(pool: AsyncConnectionPool) -> None:
    stream_id = uuid4()
    metadata = Metadata(actor="qstash", message_id="msg-1", retried=2, request_id="req-9")
    async with pool.connection() as conn:
        await apply(conn, stream_id, creating())
        await apply(conn, stream_id, StartRun(at=T0, run=1))
        await apply(conn, stream_id, batch(1, 1), metadata)  # BatchRecorded + ContinuationScheduled
        cursor = await conn.execute(
            "SELECT metadata FROM events WHERE stream_id = %s AND version > 2 ORDER BY version", [stream_id]
        )
        stored = [row[0] for row in await cursor.fetchall()]
        recorded = await read_stream(conn, stream_id)
    wanted = {"actor": "qstash", "message_id": "msg-1", "retried": 2, "request_id": "req-9"}
    assert stored == [wanted, wanted]
    assert [e.metadata for e in recorded] == [ACTOR, ACTOR, metadata, metadata]


async def test_an_append_at_a_stale_expected_version_raises_a_conflict_and_writes_nothing(
    pool: AsyncConnectionPool,
) -> None:
    stream_id = uuid4()
    async with pool.connection() as conn:
        await apply(conn, stream_id, creating())
        stale = await load(conn, stream_id)
        await apply(conn, stream_id, StartRun(at=T0, run=1))
        before = await footprint(conn, stream_id)
        cancelled = JobCancelled(at=T0, reason="stale")
        with pytest.raises(ConcurrencyConflict):
            await append(
                conn,
                stream_id,
                stale.version,
                [cancelled],
                fold([cancelled], stale),
                ACTOR,
                outbox=[OutboxMessage(run=7, deduplication_id="stale-7", body={"run": 7})],
                inbox=InboxEntry(message_id="stale-message", outcome="applied"),
            )
        assert await footprint(conn, stream_id) == before
        assert await one_value(conn, "SELECT count(*) FROM inbox WHERE message_id = 'stale-message'") == 0


async def test_the_create_writes_one_outbox_row_for_run_one_and_later_events_without_a_run_write_none(
    pool: AsyncConnectionPool,
) -> None:
    stream_id = uuid4()
    async with pool.connection() as conn:
        await apply(conn, stream_id, creating())
        await apply(conn, stream_id, StartRun(at=T0, run=1))
        await apply(conn, stream_id, Cancel(at=T0, reason="enough"))
        cursor = await conn.execute(
            "SELECT run, deduplication_id, body, delay_s, sent_at FROM outbox WHERE stream_id = %s", [stream_id]
        )
        rows = await cursor.fetchall()
        total = await one_value(conn, "SELECT count(*) FROM outbox")
    assert rows == [(1, f"{stream_id}-0-1", {"job_id": str(stream_id), "run": 1}, 0.0, None)]
    assert total == 1


async def test_the_inbox_entry_is_written_with_the_events_and_the_same_message_twice_writes_nothing(
    pool: AsyncConnectionPool,
) -> None:
    stream_id = uuid4()
    entry = InboxEntry(message_id="msg-42", outcome="applied", status_code=202, response={"run": 1})
    async with pool.connection() as conn:
        await apply(conn, stream_id, creating())
        await apply(conn, stream_id, StartRun(at=T0, run=1), inbox=entry)
        cursor = await conn.execute("SELECT message_id, stream_id, outcome, status_code, response FROM inbox")
        assert await cursor.fetchall() == [("msg-42", stream_id, "applied", 202, {"run": 1})]
        before = await footprint(conn, stream_id)
        with pytest.raises(DuplicateMessage):
            await apply(conn, stream_id, batch(1, 1), inbox=entry)
        with pytest.raises(DuplicateMessage):
            await record_inbox(conn, stream_id, entry)
        assert await footprint(conn, stream_id) == before


async def test_a_second_job_with_the_same_owner_and_idempotency_key_is_refused(pool: AsyncConnectionPool) -> None:
    first, second, elsewhere = uuid4(), uuid4(), uuid4()
    async with pool.connection() as conn:
        await apply(conn, first, creating("ada", key="k-1"))
        with pytest.raises(DuplicateIdempotencyKey):
            await apply(conn, second, creating("ada", key="k-1"))
        await apply(conn, elsewhere, creating("bob", key="k-1"))  # keys are per owner
        assert await footprint(conn, second) == ([], [], [], [])
        assert await one_value(conn, "SELECT count(*) FROM job_status") == 2


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET type = 'Forged'",
        "DELETE FROM events",
        "TRUNCATE events",
    ],
)
async def test_the_database_refuses_to_change_or_remove_recorded_events(
    pool: AsyncConnectionPool, statement: str
) -> None:
    stream_id = uuid4()
    async with pool.connection() as conn:
        await apply(conn, stream_id, creating())
        before = await footprint(conn, stream_id)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            await conn.execute(statement)
        assert await footprint(conn, stream_id) == before


async def test_the_database_refuses_an_event_whose_version_skips_one(pool: AsyncConnectionPool) -> None:
    stream_id, fresh = uuid4(), uuid4()
    insert = "INSERT INTO events (stream_id, version, type, data) VALUES (%s, %s, 'JobStarted', '{}')"
    async with pool.connection() as conn:
        await apply(conn, stream_id, creating())
        with pytest.raises(psycopg.errors.IntegrityError) as skipped:
            await conn.execute(insert, [stream_id, 3])
        assert skipped.value.diag.constraint_name == "events_version_gap"
        with pytest.raises(psycopg.errors.IntegrityError):
            await conn.execute(insert, [fresh, 2])
        with pytest.raises(psycopg.errors.UniqueViolation):
            await conn.execute(insert, [stream_id, 1])
        state = await load(conn, stream_id)
        ahead = JobCancelled(at=T0)
        with pytest.raises(ConcurrencyConflict):
            await append(conn, stream_id, state.version + 1, [ahead], fold([ahead], state), ACTOR)
        assert await one_value(conn, "SELECT count(*) FROM events") == 1


AWKWARD_PARAMS: dict[str, Any] = {
    "text": 'zoë ünïcödé 日本語 🚀 "quoted" \'single\' back\\slash \\" \\\\ new\nline\ttab \r \x01 \u2028',
    'clé spéciale "\\': ["a\\b", "\n", "", "\u00e9\u0301"],
    "floats": [1e300, -1e300, 1.7976931348623157e308, 5e-324, 1e-300, 0.1, -2.5, 1e16, 123456.789],
    "ints": [0, -1, 2**53 + 1, -(2**62)],
    "nested": {"z": None, "a": True, "": False, "deep": {"x": [{"y": "\\n"}]}},
}


def numerically_equal(found: Any, wanted: Any) -> bool:
    """jsonb keeps numbers as exact decimals: 1e300 comes back as the integer 10**300."""
    if isinstance(wanted, dict):
        return found.keys() == wanted.keys() and all(numerically_equal(found[k], wanted[k]) for k in wanted)
    if isinstance(wanted, list):
        return len(found) == len(wanted) and all(map(numerically_equal, found, wanted))
    if isinstance(wanted, float):
        return float(found) == wanted
    return found == wanted and type(found) is type(wanted)


async def test_every_hash_the_database_computes_equals_the_one_recomputed_in_python(
    pool: AsyncConnectionPool,
) -> None:
    demo = await run_demo(pool, 8)
    awkward = uuid4()
    odd_metadata = Metadata(actor='zoë "\\ \n 🚀', message_id="m\\1", request_id='ü"')
    async with pool.connection() as conn:
        await apply(conn, awkward, creating(params=AWKWARD_PARAMS), odd_metadata)
        await apply(conn, awkward, StartRun(at=T0, run=1), odd_metadata)
        streams = [job.job_id for job in demo] + [awkward]
        recorded = {stream_id: await read_stream(conn, stream_id) for stream_id in streams}
    checked = 0
    for events in recorded.values():
        prev = None
        for event in events:
            assert event.prev_hash == prev
            assert link_hash(prev, link(event)) == event.hash, (event.stream_id, event.version)
            prev = event.hash
            checked += 1
        assert verify([link(e) for e in events]).ok
    assert checked >= 8 * 3
    created = recorded[awkward][0].event
    assert isinstance(created, JobCreated)
    assert numerically_equal(created.params, AWKWARD_PARAMS)
    assert recorded[awkward][0].metadata == odd_metadata
