"""The selection in SQL agrees with the pure policy: exactly the expired jobs, never an
active one or one inside its period, whatever the periods of the kinds and the settings."""

from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace
from psycopg_pool import AsyncConnectionPool

from domain.commands import AnyCommand, Cancel, FailJob, StartRun, TimeOut
from domain.kinds import KindConfig
from domain.retention import Periods, is_expired, kind_periods
from service.archive.policy import retention_policy
from service.jobs.kinds import load_kinds
from service.settings import Settings
from service.store import job_status
from tests.service.archive.jobs import LONG_AGO, completing, expired_row, make_job

pytestmark = pytest.mark.anyio

HOUR = 3600.0
periods = st.sampled_from([None, HOUR, 5 * HOUR, 24 * HOUR])
ENDINGS = ["pending", "processing", "completed", "cancelled", "error", "timeout"]
JOBS = st.lists(
    st.tuples(st.sampled_from(ENDINGS), st.sampled_from(["demo.count", "crawl"]), st.integers(0, 30)),
    min_size=4,
    max_size=8,
)


async def job_ending(pool: AsyncConnectionPool, ending: str, kind: str, hours: int) -> UUID:
    at = LONG_AGO + timedelta(hours=hours)
    endings: dict[str, list[AnyCommand]] = {
        "pending": [],
        "processing": [StartRun(at=at, run=1)],
        "completed": completing(at),
        "cancelled": [Cancel(at=at)],
        "error": [FailJob(at=at, reason="retries_exhausted")],
        "timeout": [TimeOut(at=at + timedelta(seconds=60))],
    }
    return await make_job(pool, *endings[ending], kind=kind, at=at, deadline_s=30.0 if ending == "timeout" else None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    jobs=JOBS,
    setting=st.tuples(periods, periods),
    demo=st.tuples(periods, periods),
    later_h=st.integers(0, 40),
)
async def test_the_sql_selection_takes_exactly_the_jobs_the_pure_policy_calls_expired(
    pool: AsyncConnectionPool, jobs: list, setting: tuple, demo: tuple, later_h: int
) -> None:
    kinds = dict(load_kinds())
    config = KindConfig(retain_s=demo[0], retain_failed_s=demo[1])
    kinds["demo.count"] = replace(kinds["demo.count"], config=config)
    policy = retention_policy(Settings(retain_s=setting[0], retain_failed_s=setting[1]), kinds)
    made = [await job_ending(pool, *job) for job in jobs]
    now = LONG_AGO + timedelta(hours=later_h)
    async with pool.connection() as conn:
        taken = set() if policy is None else {e.stream_id for e in await job_status.expired(conn, policy, now, 10_000)}
        default = Periods(*setting)
        expected = set()
        for stream_id in made:
            row = await expired_row(conn, stream_id)
            periods_of_kind = kind_periods(kinds[row.kind].config if row.kind in kinds else None, default)
            if is_expired(row.status, row.finished_at, periods_of_kind, now):
                expected.add(stream_id)
    assert taken & set(made) == expected
