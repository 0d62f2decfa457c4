"""Rebuild, drift and chain verification: the log is the truth, the views follow from it."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from domain.commands import AnyCommand, Cancel, FailDelivery, FailJob, RecordBatch, Requeue, StartRun, TimeOut
from domain.errors import DomainError
from domain.kinds import KindConfig, create_job
from domain.state import decoder as state_decoder
from projections import job_status
from projections.chain import verify
from projections.drift import Drift, find_drift
from projections.log import Metadata, link, read_stream
from projections.rebuild import rebuild_job_status
from projections.replay import replay_all
from service.cli.demo import run_demo
from service.jobs.command_handler import handle
from service.store.event_store import DuplicateMessage, InboxEntry
from service.store.job_status import load

# PostgreSQL cannot store NUL; the store refuses it up front (tests/service/test_unstorable.py).
STORABLE = st.characters(codec="utf-8", exclude_characters="\x00")

pytestmark = pytest.mark.anyio

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
ACTOR = Metadata(actor="ops")
LIVE_ROWS = "SELECT {} FROM job_status".format(
    ", ".join(c if c != "state" else "state::text" for c in job_status.COLUMNS)
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def live_rows(conn: AsyncConnection) -> set[tuple]:
    cursor = await conn.execute(LIVE_ROWS)
    return set(await cursor.fetchall())


async def manual_jobs(pool: AsyncConnectionPool) -> list[UUID]:
    """A requeued job still running and a cancelled one, beside the demo's."""
    config = KindConfig(max_runs=4, deadline_s=None, max_requeues=2)
    requeued, cancelled = uuid4(), uuid4()
    create = create_job("crawl", config, owner="ada", at=T0, params={"q": 'é\\"\n'}, idempotency_key="k1")
    commands: list[AnyCommand] = [
        create,
        StartRun(at=at(1), run=1),
        FailDelivery(at=at(2), run=1, attempt=1, error="502"),
        FailJob(at=at(3), reason="retries_exhausted", error="502", run=1),
        Requeue(at=at(4)),
        StartRun(at=at(5), run=1),
        RecordBatch(at=at(6), run=1, results=7, has_more=True, cursor="7"),
    ]
    for command in commands:
        await handle(pool, requeued, command, ACTOR)
    await handle(pool, cancelled, create_job("crawl", config, owner="bob", at=T0), ACTOR)
    await handle(pool, cancelled, Cancel(at=at(1), reason="no longer needed"), ACTOR)
    return [requeued, cancelled]


async def test_rebuilding_job_status_yields_exactly_the_rows_that_were_live(pool: AsyncConnectionPool) -> None:
    await run_demo(pool, 8)
    await manual_jobs(pool)
    async with pool.connection() as conn:
        before = await live_rows(conn)
        rebuilt = await rebuild_job_status(conn)
        after = await live_rows(conn)
    assert rebuilt == len(before) == 10
    assert after == before


async def test_drift_names_exactly_the_jobs_and_columns_that_differ_from_the_log(pool: AsyncConnectionPool) -> None:
    jobs = [job.job_id for job in await run_demo(pool, 8)] + await manual_jobs(pool)
    edited, deleted, original, orphan = jobs[-1], jobs[0], jobs[2], uuid4()  # edited: the cancelled job
    columns = ", ".join(job_status.COLUMNS[1:])
    async with pool.connection() as conn:
        assert await find_drift(conn) == []
        await conn.execute("UPDATE job_status SET status = 'completed' WHERE stream_id = %s", [edited])
        assert await find_drift(conn) == [Drift(edited, ["status"])]
        await conn.execute("DELETE FROM job_status WHERE stream_id = %s", [deleted])
        await conn.execute(
            f"INSERT INTO job_status (stream_id, {columns}) SELECT %s, {columns} FROM job_status WHERE stream_id = %s",
            [orphan, original],
        )
        drift = await find_drift(conn)
    wanted = [Drift(edited, ["status"]), Drift(deleted, ["missing"]), Drift(orphan, ["orphaned"])]
    assert drift == sorted(wanted, key=lambda d: str(d.stream_id))


async def test_verify_names_the_tampered_event_and_passes_untouched_streams(pool: AsyncConnectionPool) -> None:
    jobs = [job.job_id for job in await run_demo(pool, 8)]
    async with pool.connection() as conn:
        lengths = {sid: len(await read_stream(conn, sid)) for sid in jobs}
        victim = max(jobs, key=lambda sid: lengths[sid])
        tampered = lengths[victim] // 2
        assert 1 < tampered < lengths[victim]
        async with conn.transaction():
            await conn.execute("ALTER TABLE events DISABLE TRIGGER USER")
            await conn.execute(
                """UPDATE events SET data = jsonb_set(data, '{at}', '"2000-01-01T00:00:00Z"')
                    WHERE stream_id = %s AND version = %s""",
                [victim, tampered],
            )
            await conn.execute("ALTER TABLE events ENABLE TRIGGER USER")
        reports = {sid: verify([link(e) for e in await read_stream(conn, sid)]) for sid in jobs}
    report = reports.pop(victim)
    assert not report.ok
    assert report.first_bad_version == tampered
    assert report.problem == "hash does not match the event's contents"
    assert all(r.ok and r.events == lengths[sid] for sid, r in reports.items())


times = st.integers(min_value=0, max_value=8)  # minutes between commands; deadlines are 30 or 60
runs = st.sampled_from([0, 0, 0, 1, -1])  # offset from the job's next run, set when handled
STARTS = st.builds(StartRun, at=st.just(T0), run=runs)
BATCHES = st.builds(
    RecordBatch,
    at=st.just(T0),
    run=runs,
    results=st.integers(0, 40),
    has_more=st.sampled_from([True, True, False]),
    cursor=st.none() | st.text(STORABLE, max_size=5),
)
FAILED_DELIVERIES = st.builds(
    FailDelivery, at=st.just(T0), run=runs, attempt=st.integers(1, 4), error=st.text(STORABLE, max_size=8)
)
COMMANDS = st.sampled_from(
    [  # mostly the delivery loop; the commands that end a job are rarer
        *[BATCHES] * 4,  # handled as a delivery: StartRun, then RecordBatch
        *[FAILED_DELIVERIES] * 2,
        STARTS,
        st.builds(FailJob, at=st.just(T0), reason=st.sampled_from(["retries_exhausted", "dlq"]), run=st.none() | runs),
        st.builds(TimeOut, at=st.just(T0)),
        st.builds(Cancel, at=st.just(T0), reason=st.none() | st.text(STORABLE, max_size=8)),
        st.builds(Requeue, at=st.just(T0), deadline=st.none() | st.just(at(600))),
    ]
).flatmap(lambda commands: commands)
STEPS = st.lists(st.tuples(COMMANDS, times, st.booleans()), min_size=6, max_size=20)
CONFIGS = st.builds(
    KindConfig,
    max_runs=st.integers(1, 4),
    deadline_s=st.sampled_from([None, 1800.0, 3600.0]),
    max_requeues=st.integers(0, 2),
)


async def footprint(conn: AsyncConnection, stream_id: UUID) -> tuple:
    cursor = await conn.execute("SELECT count(*) FROM events WHERE stream_id = %s", [stream_id])
    events = await cursor.fetchone()
    cursor = await conn.execute(f"{LIVE_ROWS} WHERE stream_id = %s", [stream_id])
    return events, await cursor.fetchall()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=CONFIGS, target=st.none() | st.integers(1, 60), steps=STEPS)
async def test_replay_equals_the_live_state_and_a_repeated_message_changes_nothing(
    pool: AsyncConnectionPool, config: KindConfig, target: int | None, steps: list[tuple[AnyCommand, int, bool]]
) -> None:
    stream_id = uuid4()
    create = create_job("crawl", config, owner=f"o-{stream_id}", at=T0, target_results=target)
    await handle(pool, stream_id, create, ACTOR, inbox=InboxEntry(message_id=f"{stream_id}-0", outcome="ok"))
    clock = 0
    for number, (command, minutes, repeat) in enumerate(steps, start=1):
        clock += minutes
        timed = replace(command, at=at(clock))
        run_offset = getattr(command, "run", None)
        if run_offset is not None:
            async with pool.connection() as conn:
                timed = replace(timed, run=(await load(conn, stream_id)).next_run + run_offset)
        entry = InboxEntry(message_id=f"{stream_id}-{number}", outcome="ok")
        try:
            if isinstance(timed, RecordBatch):
                await handle(pool, stream_id, StartRun(at=timed.at, run=timed.run), ACTOR)
            await handle(pool, stream_id, timed, ACTOR, inbox=entry)
        except DomainError:
            continue
        if repeat:
            async with pool.connection() as conn:
                before = await footprint(conn, stream_id)
                try:
                    again = await handle(pool, stream_id, timed, ACTOR, inbox=entry)
                    assert again.events == []
                except DuplicateMessage:
                    event("repeat refused as a duplicate")
                except DomainError:
                    event("repeat refused by the domain")
                assert await footprint(conn, stream_id) == before
    async with pool.connection() as conn:
        replayed = (await replay_all(conn))[stream_id]
        live = await load(conn, stream_id)
        events, rows = await footprint(conn, stream_id)
    assert replayed == live
    (count,), (row,) = events, rows
    event(f"{count // 4 * 4}+ events")
    assert live.version == count
    assert row[:-1] == job_status.row(stream_id, replayed)[:-1]
    assert state_decoder.decode(row[-1]) == replayed
