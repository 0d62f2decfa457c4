"""What a schedule holds, declared once and inherited, flat, by its command, event and state.

`ScheduleSpec` is the whole of it: whose it is, the job each tick creates (kind, params
and the limits a caller may set on a job) and when and how it fires. `ScheduleChanges`
is the part that can change later, every field unset unless changed, so that an update
records only what it changed. Flat rather than nested, like the job's limits
(domain.limits): one field-carrying base, so the command and the event declare `at`.
"""

from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from domain.schedule.policies import CatchUp, Overlap


class ScheduleSpec(msgspec.Struct, frozen=True, kw_only=True):
    owner: str
    kind: str
    params: dict[str, Any] = {}
    target_results: int | None = None  # the job's, as POST /v1/jobs takes them
    max_runs: int | None = None  # None: the kind's
    deadline_s: float | None = None  # counted from each job's creation; None: the kind's
    cron: str  # five fields, as cron.check_cron normalises them
    time_zone: str = "UTC"  # the IANA zone the cron reads its clock in
    overlap: Overlap = Overlap.SKIP
    catch_up: CatchUp = CatchUp.LATEST_ONCE
    end_at: datetime | None = None  # no tick after it fires
    idempotency_key: str | None = None


class ScheduleChanges(msgspec.Struct, frozen=True, kw_only=True):
    """An update: the fields it sets, UNSET for the others (and so absent from its JSON)."""

    params: dict[str, Any] | UnsetType = UNSET
    target_results: int | None | UnsetType = UNSET
    max_runs: int | None | UnsetType = UNSET
    deadline_s: float | None | UnsetType = UNSET
    cron: str | UnsetType = UNSET
    time_zone: str | UnsetType = UNSET
    overlap: Overlap | UnsetType = UNSET
    catch_up: CatchUp | UnsetType = UNSET
    end_at: datetime | None | UnsetType = UNSET

    def changed(self) -> dict[str, Any]:
        """The fields set, by name (not `at`, which the command and event add)."""
        return {name: value for name in UPDATABLE if (value := getattr(self, name)) is not UNSET}


UPDATABLE: tuple[str, ...] = ScheduleChanges.__struct_fields__
