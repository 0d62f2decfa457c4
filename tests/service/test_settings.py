"""Settings from the environment: renamed variables keep working, and say so once."""

import logging

import pytest

from service.settings import Settings


def test_the_redispatch_and_stuck_report_thresholds_are_read_under_their_names() -> None:
    settings = Settings.from_env({"JOBTRAIL_REDISPATCH_AFTER_S": "60", "JOBTRAIL_REPORT_STUCK_AFTER_S": "120"})
    assert (settings.redispatch_after_s, settings.report_stuck_after_s) == (60.0, 120.0)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("JOBTRAIL_STALL_AFTER_S", "JOBTRAIL_REDISPATCH_AFTER_S", "redispatch_after_s"),
        ("JOBTRAIL_STUCK_AFTER_S", "JOBTRAIL_REPORT_STUCK_AFTER_S", "report_stuck_after_s"),
    ],
)
def test_an_old_variable_still_works_with_a_deprecation_line_naming_its_new_name(
    old: str, new: str, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="jobtrail.settings"):
        settings = Settings.from_env({old: "42"})
    assert getattr(settings, field) == 42.0
    assert [record.getMessage() for record in caplog.records] == [f"{old} is deprecated: set {new} instead"]


def test_the_new_variable_wins_over_the_old_one_and_the_old_one_is_said_to_be_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="jobtrail.settings"):
        settings = Settings.from_env({"JOBTRAIL_STALL_AFTER_S": "42", "JOBTRAIL_REDISPATCH_AFTER_S": "7"})
    assert settings.redispatch_after_s == 7.0
    assert [record.getMessage() for record in caplog.records] == [
        "JOBTRAIL_STALL_AFTER_S is ignored: JOBTRAIL_REDISPATCH_AFTER_S, its new name, is set"
    ]


def test_no_warning_when_only_current_names_are_used(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="jobtrail.settings"):
        Settings.from_env({"JOBTRAIL_REDISPATCH_AFTER_S": "60"})
    assert caplog.records == []
