"""Settings from the environment: renamed variables keep working, and say so once; the data directory."""

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli import main
from service.settings import (
    DEV_CURRENT_SIGNING_KEY,
    DEV_NEXT_SIGNING_KEY,
    DEV_QSTASH_TOKEN,
    Settings,
    SettingsError,
)

REPO = Path(__file__).resolve().parents[2]


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


REAL_QSTASH = {
    "QSTASH_TOKEN": "t",
    "QSTASH_URL": "https://qstash.upstash.io",
    "JOBTRAIL_PUBLIC_URL": "https://x.example",
}
REAL_KEYS = {"QSTASH_CURRENT_SIGNING_KEY": "sig_real_current_012345", "QSTASH_NEXT_SIGNING_KEY": "sig_real_next_012345"}


def test_a_real_qstash_without_signing_keys_is_refused_naming_both_variables() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(REAL_QSTASH)
    message = str(refused.value)
    assert "\n" not in message
    assert "QSTASH_CURRENT_SIGNING_KEY" in message and "QSTASH_NEXT_SIGNING_KEY" in message


@pytest.mark.parametrize(("given", "missing"), [(0, "QSTASH_NEXT_SIGNING_KEY"), (1, "QSTASH_CURRENT_SIGNING_KEY")])
def test_a_real_qstash_with_one_signing_key_is_refused_naming_the_other(given: int, missing: str) -> None:
    variable = list(REAL_KEYS)[given]
    with pytest.raises(SettingsError, match=missing) as refused:
        Settings.from_env({**REAL_QSTASH, variable: REAL_KEYS[variable]})
    assert variable not in str(refused.value)


@pytest.mark.parametrize("dev_key", [DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY])
def test_a_real_qstash_given_a_dev_key_explicitly_is_refused(dev_key: str) -> None:
    with pytest.raises(SettingsError, match="QSTASH_NEXT_SIGNING_KEY"):
        Settings.from_env({**REAL_QSTASH, **REAL_KEYS, "QSTASH_NEXT_SIGNING_KEY": dev_key})
    with pytest.raises(SettingsError, match="QSTASH_CURRENT_SIGNING_KEY"):
        Settings(qstash_token="t", qstash_current_signing_key=dev_key, qstash_next_signing_key="sig_real")


def test_a_real_qstash_without_its_url_is_refused_rather_than_sent_to_a_local_port() -> None:
    without_url = {variable: value for variable, value in REAL_QSTASH.items() if variable != "QSTASH_URL"}
    with pytest.raises(SettingsError, match="QSTASH_URL is unset"):
        Settings.from_env({**without_url, **REAL_KEYS})


def test_a_real_qstash_is_checked_against_its_own_signing_keys() -> None:
    settings = Settings.from_env({**REAL_QSTASH, **REAL_KEYS})
    assert settings.signing_keys == tuple(REAL_KEYS.values())


def test_the_local_broker_and_a_dev_server_get_the_dev_keys() -> None:
    dev_keys = (DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY)
    assert Settings.from_env({}).signing_keys == dev_keys
    assert Settings().signing_keys == dev_keys
    dev_server = {"QSTASH_TOKEN": DEV_QSTASH_TOKEN, "QSTASH_URL": "http://127.0.0.1:8080"}
    assert Settings.from_env(dev_server).signing_keys == dev_keys


def test_serve_refuses_to_start_against_a_real_qstash_without_signing_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable in ("QSTASH_CURRENT_SIGNING_KEY", "QSTASH_NEXT_SIGNING_KEY"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in REAL_QSTASH.items():
        monkeypatch.setenv(variable, value)
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "QSTASH_CURRENT_SIGNING_KEY" in err


def test_from_a_checkout_the_data_directory_is_the_checkouts_whatever_the_working_directory(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).data_dir == REPO / ".jobtrail"


def test_installed_the_data_directory_is_the_users_data_directory(tmp_path) -> None:
    """service/ with no jobtrail pyproject.toml beside it, as in site-packages."""
    site = tmp_path / "site"
    (site / "service").mkdir(parents=True)
    for module in ("__init__.py", "settings.py"):
        shutil.copy(REPO / "service" / module, site / "service" / module)
    environ = {**os.environ, "PYTHONPATH": str(site), "XDG_DATA_HOME": str(tmp_path / "data")}
    environ.pop("JOBTRAIL_DATA_DIR", None)

    done = subprocess.run(
        [sys.executable, "-c", "from service.settings import Settings; print(Settings.from_env().data_dir)"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )

    assert done.stdout.strip() == str(tmp_path / "data" / "jobtrail")


def test_a_relative_data_directory_is_taken_from_the_working_directory_once(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({"JOBTRAIL_DATA_DIR": "state"}).data_dir == tmp_path / "state"


@pytest.mark.parametrize(
    ("environ", "base_url"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"JOBTRAIL_PORT": "18700"}, "http://127.0.0.1:18700"),
        ({"JOBTRAIL_HOST": "0.0.0.0", "JOBTRAIL_PORT": "18700"}, "http://127.0.0.1:18700"),
        ({"JOBTRAIL_HOST": "::", "JOBTRAIL_PORT": "18700"}, "http://[::1]:18700"),
        ({"JOBTRAIL_PORT": "18700", "JOBTRAIL_PUBLIC_URL": "https://jobs.example.com/"}, "https://jobs.example.com"),
    ],
)
def test_deliveries_go_to_the_public_url_else_to_the_address_served(environ: dict, base_url: str) -> None:
    assert Settings.from_env(environ).base_url == base_url


def test_workers_and_the_pool_size_are_read_and_bounded() -> None:
    settings = Settings.from_env({"JOBTRAIL_WORKERS": "4", "JOBTRAIL_POOL_SIZE": "8"})
    assert (settings.workers, settings.pool_size) == (4, 8)
    with pytest.raises(SettingsError, match="JOBTRAIL_WORKERS"):
        Settings.from_env({"JOBTRAIL_WORKERS": "0"})


def test_the_shutdown_grace_is_read_and_bounded() -> None:
    assert Settings.from_env({}).shutdown_grace_s == 10
    assert Settings.from_env({"JOBTRAIL_SHUTDOWN_GRACE_S": "45"}).shutdown_grace_s == 45
    for bad in ("0", "2.5", "3601"):
        with pytest.raises(SettingsError, match="JOBTRAIL_SHUTDOWN_GRACE_S"):
            Settings.from_env({"JOBTRAIL_SHUTDOWN_GRACE_S": bad})


def test_the_local_brokers_retention_is_read_and_bounded() -> None:
    assert Settings.from_env({}).broker_retention_s == 300
    assert Settings.from_env({"JOBTRAIL_BROKER_RETENTION_S": "30"}).broker_retention_s == 30
    for bad in ("-1", "86401", "soon"):
        with pytest.raises(SettingsError, match="JOBTRAIL_BROKER_RETENTION_S"):
            Settings.from_env({"JOBTRAIL_BROKER_RETENTION_S": bad})


def test_the_relays_batch_size_is_read_and_bounded_by_what_qstash_takes() -> None:
    assert Settings.from_env({}).relay_batch == 100
    assert Settings.from_env({"JOBTRAIL_RELAY_BATCH": "1"}).relay_batch == 1
    for bad in ("0", "101", "2.5", "many"):
        with pytest.raises(SettingsError, match="JOBTRAIL_RELAY_BATCH"):
            Settings.from_env({"JOBTRAIL_RELAY_BATCH": bad})


def test_the_group_commit_size_is_read_and_held_between_one_and_sixty_four() -> None:
    assert Settings.from_env({"JOBTRAIL_GROUP_COMMIT_MAX": "1"}).group_commit_max == 1
    assert Settings.from_env({}).group_commit_max == 32
    for outside in ("0", "65"):
        with pytest.raises(SettingsError, match="JOBTRAIL_GROUP_COMMIT_MAX"):
            Settings.from_env({"JOBTRAIL_GROUP_COMMIT_MAX": outside})
