"""`demo.count`: a synthetic source of `total` items, for the demo and the tests."""

import asyncio
from typing import Annotated

import msgspec

from domain.kinds import KindConfig
from service.jobs.batch import Batch, BatchContext, PermanentError

NAME = "demo.count"


class DemoCountParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    total: Annotated[int, msgspec.Meta(ge=0, le=10_000_000, description="items the source holds")]
    per_batch: Annotated[int, msgspec.Meta(ge=1, le=1000, description="items per run")] = 20
    slow_ms: Annotated[int, msgspec.Meta(ge=0, le=60_000, description="extra latency per run")] = 0
    fail_every: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            description="a delivery fails when run + attempt is a multiple of it: 1 always, 2 every other, 0 never",
        ),
    ] = 0
    fail_permanently_at: Annotated[int, msgspec.Meta(ge=1, description="this run fails permanently")] | None = None


CONFIG = KindConfig(
    max_runs=1000,
    batch_size=20,
    retries=3,
    batch_timeout_s=30.0,
    deadline_s=3600.0,
    max_requeues=3,
    description="Counts through a synthetic source of `total` items, `per_batch` at a time.",
)


class TransientFailure(Exception):
    """An injected failure that a retry cures."""


async def run_batch(job: BatchContext, cursor: str | None) -> Batch:
    """Items `offset .. offset+per_batch`; failures injected by params, deterministic per (run, attempt)."""
    params = msgspec.convert(job.params, DemoCountParams)
    if params.fail_permanently_at == job.run:
        raise PermanentError(f"run {job.run} was asked to fail permanently")
    if params.fail_every and (job.run + job.attempt) % params.fail_every == 0:
        raise TransientFailure(f"run {job.run}, attempt {job.attempt} fails (fail_every={params.fail_every})")
    if params.slow_ms:
        await asyncio.sleep(params.slow_ms / 1000)
    offset = int(cursor or 0)
    end = min(params.total, offset + params.per_batch)
    items = list(range(offset, end))
    return Batch(items=items, next_cursor=str(end), has_more=end < params.total, total=params.total)
