"""A job's limits, declared once and inherited, flat, by kind config, command, event and state.

`Limits` are what a kind allows each of its jobs: runs, requeues, redispatches and the
pacing of continuations. `JobLimits` adds the two that one job sets for itself, a target
of results and an absolute deadline; a kind has no target and a relative deadline
(`KindConfig.deadline_s`), so KindConfig inherits `Limits` while CreateJob, JobCreated and
JobState inherit `JobLimits`. Delivery settings (batch size, retries, batch timeout) are
not limits of a job and stay on KindConfig.

Inherited rather than nested under a `limits` field so that the wire format stays flat:
every JobCreated already in the log and every `job_status.state` snapshot decodes as it
always did, with no migration and no second decoder. msgspec refuses a struct with two
field-carrying bases (an instance lay-out conflict), so JobCreated and CreateJob inherit
from JobLimits alone and declare `at` themselves. The defaults are those stored events were
written with: a field added here later needs a default, or old events stop decoding.
"""

from datetime import datetime
from typing import Any

import msgspec


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    max_runs: int
    max_requeues: int = 0
    max_redispatches: int = 3  # times a lost run is sent again before the job is left to time out
    delay_s: float = 0.0  # before the second run; later runs multiply it by backoff_factor
    backoff_factor: float = 1.0  # 1.0 is a fixed delay
    max_delay_s: float = 0.0  # the cap on a continuation delay; 0 is none

    @property
    def limits(self) -> "Limits":
        """These limits alone, without whatever else the struct that inherits them carries."""
        return Limits(**_values(self, Limits))


class JobLimits(Limits, frozen=True, kw_only=True):
    target_results: int | None = None
    deadline: datetime | None = None

    @property
    def limits(self) -> "JobLimits":
        return JobLimits(**_values(self, JobLimits))


def _values(struct: Limits, limits: type[Limits]) -> dict[str, Any]:
    """As they are, without msgspec.convert's validation: a kind's config is never refused here."""
    return {name: getattr(struct, name) for name in limits.__struct_fields__}
