"""A batch's reported size reaches the job's progress, in its status row and its document."""

import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from domain.kinds import KindConfig, create_job
from domain.state import JobState
from domain.state import decoder as state_decoder
from projections.log import Metadata
from service.api.schemas import document
from service.jobs import demo_count
from service.jobs.batch import Batch
from service.jobs.command_handler import handle
from service.jobs.kinds import BUILT_IN, Kind
from service.jobs.observers import STANDALONE
from service.qstash.delivery import deliver_run

pytestmark = [pytest.mark.anyio, pytest.mark.db]

STATUS = "SELECT status, outcome, progress, state::text FROM job_status WHERE stream_id = %s"


async def new_job(pool, kind: str, config: KindConfig, params: dict) -> uuid.UUID:
    stream_id = uuid.uuid4()
    await handle(
        pool, stream_id, create_job(kind, config, owner="acme", at=datetime.now(UTC), params=params), Metadata()
    )
    return stream_id


async def first_run(pool, kinds: dict[str, Kind], stream_id: uuid.UUID) -> str:
    answer = await deliver_run(
        pool, kinds, STANDALONE, message_id=f"msg_{stream_id}", retried=0, job_id=stream_id, run=1
    )
    return answer.outcome


async def status_row(pool, stream_id: uuid.UUID) -> tuple[str, str | None, float | None, JobState]:
    async with pool.connection() as conn:
        status, outcome, progress, state = await (await conn.execute(STATUS, [stream_id])).fetchone()
    return status, outcome, progress, state_decoder.decode(state)


def reporting(**size: int) -> Kind:
    """A kind whose every batch holds 10 items and says `size` of its source."""

    async def run_batch(job, cursor):
        return Batch(items=list(range(10)), next_cursor="next", has_more=True, **size)

    return Kind(name="sized.source", config=KindConfig(max_runs=50), params=msgspec.Struct, run_batch=run_batch)


async def test_a_count_job_a_tenth_through_its_source_is_ten_percent_done(pool):
    kinds = {kind.name: kind for kind in BUILT_IN}
    stream_id = await new_job(pool, demo_count.NAME, demo_count.CONFIG, {"total": 200, "per_batch": 20})
    assert await first_run(pool, kinds, stream_id) == "recorded"
    _, _, progress, state = await status_row(pool, stream_id)
    assert (progress, state.expected_results) == (10.0, 200)
    assert (document(stream_id, state).progress, document(stream_id, state).expected_results) == (10.0, 200)


async def test_what_a_batch_says_remains_is_added_to_the_results_so_far(pool):
    kind = reporting(remaining=30)
    stream_id = await new_job(pool, kind.name, kind.config, {})
    assert await first_run(pool, {kind.name: kind}, stream_id) == "recorded"
    _, _, progress, state = await status_row(pool, stream_id)
    assert (progress, state.expected_results) == (25.0, 40)


async def test_a_job_whose_source_says_nothing_of_its_size_has_no_percentage(pool):
    kind = reporting()
    stream_id = await new_job(pool, kind.name, kind.config, {})
    assert await first_run(pool, {kind.name: kind}, stream_id) == "recorded"
    status, _, progress, state = await status_row(pool, stream_id)
    assert (status, progress, state.processed_runs, state.processed_results) == ("processing", None, 1, 10)
    assert document(stream_id, state).progress is None


async def test_a_handler_reporting_a_negative_size_fails_the_job_permanently(pool):
    kind = reporting(total=-1)
    stream_id = await new_job(pool, kind.name, kind.config, {})
    assert await first_run(pool, {kind.name: kind}, stream_id) == "failed_permanently"
    status, outcome, _, state = await status_row(pool, stream_id)
    assert (status, outcome) == ("error", "permanent_error")
    assert state.last_error is not None and "negative size" in state.last_error
