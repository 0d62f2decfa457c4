"""An archive run: which jobs it takes, what it writes, what it removes."""

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from domain.commands import Requeue, StartRun, TimeOut
from projections.checkpoints import keyring
from projections.export import read_export, verify_export, verify_inclusion_in
from projections.log import read_stream
from projections.merkle_tree import MerkleTree
from projections.runner import catch_up_once
from service.archive.archiver import archive_expired, export_bytes
from service.archive.naming import archive_name, owner_component
from service.archive.restore import restore_job
from service.archive.store import DirectoryStore
from service.audit.archived import archived_leaf_indexes, leaf_indexes
from service.audit.signing_key import new_key_pem, signer_from
from service.store import job_status, tombstones
from service.store.job_status import RetentionPolicy
from tests.service.archive.jobs import (
    LONG_AGO,
    ONE_DAY,
    cancelled_job,
    completed_job,
    count,
    days_later,
    failed_job,
    make_job,
    timed_out_job,
)

pytestmark = pytest.mark.anyio

ROW_TABLES = ("events", "job_status", "job_status_shadow", "job_stats", "batch_results", "inbox", "outbox")


async def test_an_expired_job_is_written_verified_and_removed_with_a_tombstone(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    job = await completed_job(pool, owner="team/a b")
    async with pool.connection() as conn:
        events = await read_stream(conn, job)
        assert await count(conn, "batch_results", job) == 2
    store = DirectoryStore(tmp_path)

    summary = await archive_expired(pool, store, ONE_DAY, days_later(2))

    name = archive_name(job, "team/a b", LONG_AGO, 0)
    assert name == f"{LONG_AGO:%Y/%m/%d}/team%2Fa%20b/{job}.ndjson"
    data = (tmp_path / name).read_bytes()
    assert data == export_bytes(job, events)
    report = verify_export(data.splitlines(keepends=True))
    assert report.ok and report.events == len(events) and report.head == events[-1].hash.hex()
    assert (summary.jobs, summary.events, summary.bytes, summary.skipped) == (1, len(events), len(data), 0)
    async with pool.connection() as conn:
        stone = await tombstones.latest(conn, job)
        assert stone is not None
        assert (stone.owner, stone.kind, stone.status, stone.events) == (
            "team/a b",
            "demo.count",
            "completed",
            len(events),
        )
        assert (stone.first_position, stone.last_position) == (events[0].position, events[-1].position)
        assert stone.chain_head == events[-1].hash
        assert stone.archive_name == name and stone.archive_sha256 == hashlib.sha256(data).digest()
        assert [await count(conn, table, job) for table in ROW_TABLES] == [0] * len(ROW_TABLES)


async def test_active_jobs_and_jobs_inside_their_period_are_left_alone(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    pending = await make_job(pool)
    processing = await make_job(pool, StartRun(at=LONG_AGO, run=1))
    recent = await completed_job(pool, at=days_later(1.5))
    old = await completed_job(pool)

    summary = await archive_expired(pool, DirectoryStore(tmp_path), ONE_DAY, days_later(2))

    assert summary.jobs == 1
    async with pool.connection() as conn:
        assert await tombstones.latest(conn, old) is not None
        for kept in (pending, processing, recent):
            assert await tombstones.latest(conn, kept) is None
            assert await count(conn, "events", kept) > 0


async def test_failed_jobs_keep_their_own_longer_period_and_a_kind_can_keep_for_ever(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    failed, timed_out, done = await failed_job(pool), await timed_out_job(pool), await completed_job(pool)
    await timed_out_job(pool, kind="crawl")
    policy = RetentionPolicy(default_s=86400.0, default_failed_s=30 * 86400.0, kinds={"crawl": (None, None)})
    async with pool.connection() as conn:
        taken = {job.stream_id for job in await job_status.expired(conn, policy, days_later(2), 100)}
        assert taken == {done}
        taken = {job.stream_id for job in await job_status.expired(conn, policy, days_later(31), 100)}
        assert taken == {done, failed, timed_out}  # the kind without a period keeps its job


async def test_a_job_some_global_subscriber_has_not_read_whole_is_not_taken(pool: AsyncConnectionPool) -> None:
    job = await cancelled_job(pool)
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO projection_checkpoints (name) VALUES ('lagging')")
        assert await job_status.expired(conn, ONE_DAY, days_later(2), 10) == []
        await conn.execute(
            """UPDATE projection_checkpoints SET (transaction_id, position) =
                   (SELECT transaction_id, position FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1)"""
        )
        assert [found.stream_id for found in await job_status.expired(conn, ONE_DAY, days_later(2), 10)] == [job]


async def test_a_merkle_tree_that_trails_the_log_holds_no_job_back(pool: AsyncConnectionPool, tmp_path: Path) -> None:
    held = [await cancelled_job(pool, at=LONG_AGO + timedelta(minutes=n)) for n in range(2)]
    async with pool.connection() as conn:
        assert await catch_up_once(conn, MerkleTree())  # the tree holds these two jobs' events only
    beyond = [await cancelled_job(pool, at=LONG_AGO + timedelta(minutes=n)) for n in range(2, 4)]
    summary = await archive_expired(pool, DirectoryStore(tmp_path), ONE_DAY, days_later(2), batch=1)
    assert summary.jobs == 4, "the run grows the tree over the jobs past it"
    async with pool.connection() as conn:
        assert [await tombstones.gone(conn, job) is not None for job in held + beyond] == [True] * 4


async def test_a_limit_bounds_the_run_and_the_oldest_finish_goes_first(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    jobs = [await cancelled_job(pool, at=LONG_AGO + timedelta(minutes=n)) for n in range(5)]
    summary = await archive_expired(pool, DirectoryStore(tmp_path), ONE_DAY, days_later(2), limit=3, batch=2)
    assert summary.jobs == 3
    async with pool.connection() as conn:
        left = [found.stream_id for found in await job_status.expired(conn, ONE_DAY, days_later(2), 10)]
    assert left == jobs[3:]  # oldest finish first


async def test_a_restored_job_is_archived_again_only_when_asked_and_into_a_file_of_its_own(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    store = DirectoryStore(tmp_path)
    job = await timed_out_job(pool)
    await archive_expired(pool, store, ONE_DAY, days_later(2))
    await restore_job(pool, store, job)
    async with (
        pool.connection() as conn
    ):  # the global subscribers read the restored events, as the service's runner does
        while await catch_up_once(conn, MerkleTree()):
            pass
    assert (await archive_expired(pool, store, ONE_DAY, days_later(2))).jobs == 0

    await archive_expired(pool, store, ONE_DAY, days_later(2), include_restored=True)

    async with pool.connection() as conn:
        stones = [stone for _, stone in await tombstones.page(conn)]
    assert [stone.archive_name.rsplit("/", 1)[1] for stone in stones] == [f"{job}.ndjson", f"{job}.2.ndjson"]
    assert stones[0].archive_sha256 == stones[1].archive_sha256  # restored byte for byte


async def test_a_requeued_job_finishes_anew_and_its_period_counts_from_the_new_finish(
    pool: AsyncConnectionPool,
) -> None:
    job = await make_job(
        pool,
        TimeOut(at=days_later(0.01)),
        Requeue(at=days_later(5), deadline=days_later(5.001)),
        TimeOut(at=days_later(5.01)),
        deadline_s=60.0,
    )
    async with pool.connection() as conn:
        assert await job_status.expired(conn, ONE_DAY, days_later(2), 10) == []
        assert [found.stream_id for found in await job_status.expired(conn, ONE_DAY, days_later(7), 10)] == [job]


def test_owner_names_are_path_safe_and_distinct() -> None:
    owners = ["acme", "a/b", "a%2Fb", "..", ".", "", "é", "a b", "x" * 300, "x" * 299 + "y"]
    components = [owner_component(owner) for owner in owners]
    assert len(set(components)) == len(owners)
    for component in components:
        assert "/" not in component and component not in (".", "..", "") and len(component.encode()) <= 200


async def test_an_archive_file_proves_its_history_against_a_signed_checkpoint_and_a_restore_adds_no_leaf(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    signer = signer_from(new_key_pem())
    store = DirectoryStore(tmp_path)
    job = await completed_job(pool)

    assert (await archive_expired(pool, store, ONE_DAY, days_later(2), signer=signer)).jobs == 1

    async with pool.connection() as conn:
        stone = await tombstones.latest(conn, job)
        assert stone is not None
    export = read_export((tmp_path / stone.archive_name).read_bytes().splitlines(keepends=True))
    report = verify_inclusion_in(export, keyring([signer.public_key]))
    assert report.ok and report.proven == stone.events and report.unproven == 0

    await restore_job(pool, store, job)
    async with pool.connection() as conn:  # the tree reads the restored events: they are leaves already
        while await catch_up_once(conn, MerkleTree()):
            pass
        assert await leaf_indexes(conn, job) == await archived_leaf_indexes(conn, job)
