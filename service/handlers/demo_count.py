"""`demo.count`: a synthetic source of `total` items, for the demo and the tests."""

from typing import Annotated

import msgspec

from domain.kinds import KindConfig

NAME = "demo.count"


class DemoCountParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    total: Annotated[int, msgspec.Meta(ge=0, le=10_000_000, description="items the source holds")]
    per_batch: Annotated[int, msgspec.Meta(ge=1, le=1000, description="items per run")] = 20
    slow_ms: Annotated[int, msgspec.Meta(ge=0, le=60_000, description="extra latency per run")] = 0
    fail_every: Annotated[
        int, msgspec.Meta(ge=0, description="every Nth delivery fails transiently (0: never)")
    ] = 0
    fail_permanently_at: (
        Annotated[int, msgspec.Meta(ge=1, description="this run fails permanently")] | None
    ) = None


CONFIG = KindConfig(
    max_runs=1000,
    batch_size=20,
    retries=3,
    batch_timeout_s=30.0,
    deadline_s=3600.0,
    max_requeues=3,
    description="Counts through a synthetic source of `total` items, `per_batch` at a time.",
)
