"""GET /v1/jobs/{id}/results: the items each batch produced, a page of runs at a time."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import get
from litestar.params import FromPath, QueryParameter

from service.api.auth import require_read
from service.api.dependencies import Caller, Pool
from service.api.jobs import visible_job
from service.api.problems import problem_responses
from service.store import batch_results


class BatchResult(msgspec.Struct, frozen=True, kw_only=True):
    run: int
    items: list[Any]
    recorded_at: datetime


class ResultsPage(msgspec.Struct, frozen=True, kw_only=True):
    job_id: UUID
    batches: list[BatchResult]
    next_after_run: int | None  # pass as `after_run` for the next page; null at the end


@get(
    "/v1/jobs/{job_id:uuid}/results",
    tags=["jobs"],
    summary="The items the job's batches produced, by run",
    responses=problem_responses(400, 401, 403, 404, 410),
)
async def list_results(
    job_id: FromPath[UUID],
    principal: Caller,
    pool: Pool,
    after_run: Annotated[int, QueryParameter(ge=0)] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
) -> ResultsPage:
    require_read(principal)
    await visible_job(pool, principal, job_id)
    async with pool.connection() as conn:
        rows = await batch_results.page(conn, job_id, after_run, limit + 1)
    batches = [
        BatchResult(run=run, items=msgspec.json.decode(items), recorded_at=at) for run, items, at in rows[:limit]
    ]
    next_after_run = batches[-1].run if len(rows) > limit else None
    return ResultsPage(job_id=job_id, batches=batches, next_after_run=next_after_run)
