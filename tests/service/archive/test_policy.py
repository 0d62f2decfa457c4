"""The policy in force, from the settings and the registered kinds."""

from msgspec.structs import replace

from domain.kinds import KindConfig
from service.archive.policy import retention_policy
from service.jobs.kinds import load_kinds
from service.settings import Settings
from service.store.job_status import RetentionPolicy


def test_no_period_anywhere_means_no_policy_and_the_sweep_archives_nothing() -> None:
    assert retention_policy(Settings(), load_kinds()) is None


def test_the_settings_periods_become_the_default_and_each_kinds_effective_pair() -> None:
    policy = retention_policy(Settings(retain_s=60.0), load_kinds())
    assert policy == RetentionPolicy(default_s=60.0, default_failed_s=60.0, kinds={"demo.count": (60.0, 60.0)})


def test_one_kinds_period_alone_turns_retention_on_for_that_kind_only() -> None:
    kinds = load_kinds()
    demo = kinds["demo.count"]
    kinds["demo.count"] = replace(demo, config=KindConfig(retain_s=10.0, retain_failed_s=90.0))
    policy = retention_policy(Settings(), kinds)
    assert policy == RetentionPolicy(default_s=None, default_failed_s=None, kinds={"demo.count": (10.0, 90.0)})
