"""Kind configuration: the limits and pacing every job of a kind is created with."""

from datetime import datetime, timedelta
from typing import Any

import msgspec

from domain.commands import CreateJob
from domain.errors import InvalidCommand


class KindConfig(msgspec.Struct, frozen=True, kw_only=True):
    max_runs: int = 100
    batch_size: int = 20
    delay_s: float = 0.0
    backoff_factor: float = 1.0  # 1.0 is a fixed delay
    max_delay_s: float = 300.0
    retries: int = 3
    batch_timeout_s: float = 30.0
    deadline_s: float | None = 3600.0
    max_requeues: int = 3
    max_redispatches: int = 3  # times a lost run is sent again before the job is left to time out
    description: str = ""


def continuation_delay(base_s: float, factor: float, cap_s: float, run: int) -> float:
    """Seconds to wait before the run after `run`: base · factor^(run-1), capped."""
    if base_s <= 0:
        return 0.0
    try:
        delay = base_s * factor ** (run - 1)
    except OverflowError:  # factor^(run-1) is past float range: only a cap bounds it
        if cap_s <= 0:
            raise
        return cap_s
    return min(delay, cap_s) if cap_s > 0 else delay


def create_job(
    kind: str,
    config: KindConfig,
    *,
    owner: str,
    at: datetime,
    params: dict[str, Any] | None = None,
    target_results: int | None = None,
    max_runs: int | None = None,
    deadline_s: float | None = None,
    idempotency_key: str | None = None,
) -> CreateJob:
    """A CreateJob under the kind's limits; a caller may tighten them, never loosen them."""
    if max_runs is not None and max_runs > config.max_runs:
        raise InvalidCommand(f"max_runs {max_runs} exceeds the kind's limit of {config.max_runs}")
    if deadline_s is not None and deadline_s <= 0:
        raise InvalidCommand("deadline_s must be positive")
    seconds = deadline_s if deadline_s is not None else config.deadline_s
    return CreateJob(
        at=at,
        owner=owner,
        kind=kind,
        params=params or {},
        max_runs=max_runs if max_runs is not None else config.max_runs,
        target_results=target_results,
        max_requeues=config.max_requeues,
        max_redispatches=config.max_redispatches,
        deadline=at + timedelta(seconds=seconds) if seconds is not None else None,
        delay_s=config.delay_s,
        backoff_factor=config.backoff_factor,
        max_delay_s=config.max_delay_s,
        idempotency_key=idempotency_key,
    )
