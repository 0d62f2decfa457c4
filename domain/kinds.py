"""Kind configuration: the limits and pacing every job of a kind is created with."""

from datetime import datetime, timedelta
from typing import Any

from msgspec.structs import asdict, replace

from domain.commands import CreateJob
from domain.errors import InvalidCommand
from domain.limits import Limits


class KindConfig(Limits, frozen=True, kw_only=True):
    """The limits of every job of a kind, its deadline counted from each job's creation, and how
    its batches are delivered. Three limits are redeclared only for their defaults: a kind's are
    more generous than those stored events were written with."""

    max_runs: int = 100
    max_requeues: int = 3
    max_delay_s: float = 300.0
    deadline_s: float | None = 3600.0
    batch_size: int = 20
    retries: int = 3
    batch_timeout_s: float = 30.0
    description: str = ""
    # Retention (domain/retention.py): seconds after a job finished when it is archived;
    # None defers to the global setting (JOBTRAIL_RETAIN_S, JOBTRAIL_RETAIN_FAILED_S).
    retain_s: float | None = None
    retain_failed_s: float | None = None


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
    limits = config.limits if max_runs is None else replace(config.limits, max_runs=max_runs)
    return CreateJob(
        at=at,
        owner=owner,
        kind=kind,
        params=params or {},
        target_results=target_results,
        deadline=at + timedelta(seconds=seconds) if seconds is not None else None,
        idempotency_key=idempotency_key,
        **asdict(limits),
    )
