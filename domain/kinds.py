"""Kind configuration: the limits and pacing every job of a kind is created with."""

from datetime import datetime, timedelta
from typing import Any, Literal

from msgspec.structs import asdict, replace

from domain.commands import CreateJob
from domain.errors import InvalidCommand
from domain.limits import Limits

MAX_PERIOD_S = 7 * 86400  # QStash's longest flow-control period


class KindConfig(Limits, frozen=True, kw_only=True):
    """The limits of every job of a kind, its deadline counted from each job's creation, and how
    its batches are delivered. Three limits are redeclared only for their defaults: a kind's are
    more generous than those stored events were written with.

    Flow control paces the kind's batches across all jobs and processes: at most `parallelism`
    in flight at once, at most `rate` started per `period_s` seconds (None: no such limit),
    counted for the whole kind or, with `flow_scope="owner"`, for each owner apart, so that
    one tenant's backlog never holds up another's jobs."""

    max_runs: int = 100
    max_requeues: int = 3
    max_delay_s: float = 300.0
    deadline_s: float | None = 3600.0
    batch_size: int = 20
    retries: int = 3
    batch_timeout_s: float = 30.0
    description: str = ""
    parallelism: int | None = None
    rate: int | None = None
    period_s: int = 1
    flow_scope: Literal["kind", "owner"] = "kind"

    def __post_init__(self) -> None:
        for name in ("parallelism", "rate"):
            value = getattr(self, name)
            if value is not None and not (_whole(value) and value >= 1):
                raise ValueError(f"{name} must be a positive integer or None, not {value!r}")
        if not (_whole(self.period_s) and 1 <= self.period_s <= MAX_PERIOD_S):
            raise ValueError(f"period_s must be whole seconds from 1 to {MAX_PERIOD_S}, not {self.period_s!r}")
        if self.flow_scope not in ("kind", "owner"):
            raise ValueError(f"flow_scope must be 'kind' or 'owner', not {self.flow_scope!r}")

    @property
    def flow_controlled(self) -> bool:
        return self.parallelism is not None or self.rate is not None


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
    notify_url: str | None = None,
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
        notify_url=notify_url,
        **asdict(limits),
    )
