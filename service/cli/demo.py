"""`jobtrail demo`: synthetic jobs driven through their whole lifecycle, in-process.

The demo plays the delivery loop itself: it takes each job's outbox row, starts the
run, produces a synthetic batch and records it, on a simulated clock (time comes in on
commands, so the domain cannot tell). Rows it delivered are marked sent so that no
relay publishes them later.

It refuses a database a running service uses (service/store/serving.py): that
service's relay could publish a demo job's run before the demo marks it sent, and
QStash's delivery and the demo would then both drive the job, two actors interleaved in
one history. A demo beside a service runs on a database of its own instead.
"""

from datetime import timedelta
from uuid import UUID, uuid4

import msgspec
from psycopg_pool import AsyncConnectionPool

from domain.commands import Cancel, FailDelivery, FailJob, RecordBatch, StartRun
from domain.kinds import KindConfig, create_job
from domain.lifecycle import ACTIVE
from domain.state import JobState
from projections.log import Metadata
from service.clock import now
from service.jobs.command_handler import handle
from service.store import outbox
from service.store.serving import SERVICE_APPLICATION_NAME, service_sessions

KIND = "demo.count"
ACTOR = Metadata(actor="demo")


class SharedWithService(Exception):
    """A running service uses the database the demo was pointed at."""

    def __init__(self, sessions: int) -> None:
        super().__init__(
            f"a jobtrail service is using this database ({sessions} session(s) named "
            f"'{SERVICE_APPLICATION_NAME}' in pg_stat_activity); the demo drives its jobs itself and "
            "would mix its steps with the service's deliveries in one history. Stop the service, "
            "or run the demo on another database (DATABASE_URL, or JOBTRAIL_DATA_DIR for an embedded "
            "one); to watch the service run jobs: jobtrail jobs create --owner NAME --kind demo.count "
            """--params '{"total": 100}'"""
        )


class Scenario(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    total: int  # items the synthetic source holds
    per_batch: int = 20
    target_results: int | None = None
    max_runs: int = 20
    deadline_s: float = 3600.0
    seconds_per_batch: float = 1.0
    failures: int = 0  # deliveries that fail before QStash gives up
    cancel_after_runs: int | None = None


SCENARIOS = [
    Scenario(name="target met", total=1000, target_results=100),
    Scenario(name="source exhausted", total=50),
    Scenario(name="max runs reached", total=1000, max_runs=3),
    Scenario(name="retries exhausted", total=100, failures=4),
    Scenario(name="deadline passed", total=1000, deadline_s=10, seconds_per_batch=4),
    Scenario(name="cancelled", total=1000, cancel_after_runs=2),
    Scenario(name="target met (big)", total=5000, target_results=400, per_batch=50),
    Scenario(name="source exhausted (small)", total=7, per_batch=5),
]


class DemoJob(msgspec.Struct, frozen=True):
    job_id: UUID
    scenario: Scenario
    state: JobState


async def run_demo(pool: AsyncConnectionPool, jobs: int, *, owner: str = "demo") -> list[DemoJob]:
    """Refused (SharedWithService) while a service uses the database, before anything is written."""
    async with pool.connection() as conn:
        if sessions := await service_sessions(conn):
            raise SharedWithService(sessions)
    return [await _drive(pool, SCENARIOS[i % len(SCENARIOS)], owner) for i in range(jobs)]


async def _drive(pool: AsyncConnectionPool, scenario: Scenario, owner: str) -> DemoJob:
    job_id, clock = uuid4(), now()
    config = KindConfig(max_runs=scenario.max_runs, deadline_s=scenario.deadline_s, max_requeues=1)
    params = {"total": scenario.total, "per_batch": scenario.per_batch}
    create = create_job(KIND, config, owner=owner, at=clock, params=params, target_results=scenario.target_results)
    state = (await handle(pool, job_id, create, ACTOR)).state
    failures = scenario.failures
    while state.status in ACTIVE:
        await _mark_sent(pool, job_id)
        run = state.next_run
        clock += timedelta(seconds=scenario.seconds_per_batch)
        retried = state.attempts if state.next_run == run else 0
        delivery = Metadata(actor="demo", message_id=f"demo-{job_id}-{run}", retried=retried)
        if scenario.cancel_after_runs is not None and state.processed_runs >= scenario.cancel_after_runs:
            state = (await handle(pool, job_id, Cancel(at=clock, reason="operator"), ACTOR)).state
            continue
        state = (await handle(pool, job_id, StartRun(at=clock, run=run), delivery)).state
        if state.status not in ACTIVE:
            break
        if failures:
            failures -= 1
            attempt = state.attempts + 1
            error = "synthetic source unavailable"
            command = (
                FailDelivery(at=clock, run=run, attempt=attempt, error=error)
                if failures
                else FailJob(at=clock, reason="retries_exhausted", error=error, run=run)
            )
            state = (await handle(pool, job_id, command, delivery)).state
            continue
        start = (run - 1) * scenario.per_batch
        results = max(0, min(scenario.per_batch, scenario.total - start))
        batch = RecordBatch(
            at=clock,
            run=run,
            results=results,
            has_more=start + results < scenario.total,
            cursor=str(start + results),
            duration_ms=int(scenario.seconds_per_batch * 1000),
            total=scenario.total,
        )
        state = (await handle(pool, job_id, batch, delivery)).state
    await _mark_sent(pool, job_id)
    return DemoJob(job_id, scenario, state)


async def _mark_sent(pool: AsyncConnectionPool, job_id: UUID) -> None:
    async with pool.connection() as conn:
        await outbox.mark_delivered_in_process(conn, job_id)
