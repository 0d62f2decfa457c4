"""The retention policy in force: the settings' periods, and each registered kind's own."""

from collections.abc import Mapping

from domain.lifecycle import Status
from domain.retention import Periods, kind_periods, period_for
from service.jobs.kinds import Kind
from service.settings import Settings
from service.store.job_status import RetentionPolicy


def _effective(periods: Periods) -> tuple[float | None, float | None]:
    return period_for(Status.COMPLETED, periods), period_for(Status.ERROR, periods)


def retention_policy(settings: Settings, kinds: Mapping[str, Kind]) -> RetentionPolicy | None:
    """What EXPIRED selects by; None when nothing anywhere has a period (keep every job)."""
    default = Periods(settings.retain_s, settings.retain_failed_s)
    by_kind = {name: kind_periods(kind.config, default) for name, kind in kinds.items()}
    if default.keeps_everything and all(periods.keeps_everything for periods in by_kind.values()):
        return None
    default_s, default_failed_s = _effective(default)
    return RetentionPolicy(
        default_s=default_s,
        default_failed_s=default_failed_s,
        kinds={name: _effective(periods) for name, periods in by_kind.items()},
    )
