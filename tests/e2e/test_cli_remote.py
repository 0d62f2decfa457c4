"""The `jobtrail` command over HTTP (--url, --key) against a real `jobtrail serve`, as the key's owner."""

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import Running
from tests.service.cli.run import run

SLOW = '{"total": 100000, "per_batch": 10, "slow_ms": 300}'


def remote(running: Running) -> tuple[str, ...]:
    return ("--url", running.service.base_url, "--key", running.key)


def test_a_job_created_watched_shown_listed_and_verified_over_http(running: Running, capsys) -> None:
    code, out, _ = run(capsys, "jobs", "create", "--kind", "demo.count", "--params", '{"total": 60}', *remote(running))
    job_id = out.strip()
    watched = run(capsys, "jobs", "watch", job_id, *remote(running))
    shown = run(capsys, "jobs", "show", job_id, *remote(running))
    listed = run(capsys, "jobs", "list", "--limit", "1", *remote(running))
    history = run(capsys, "history", job_id, "--verify", *remote(running))
    as_json = run(capsys, "history", job_id, "--json", *remote(running))
    stats = run(capsys, "stats", "--json", *remote(running))
    assert code == 0 and uuid.UUID(job_id)
    assert watched[0] == 0 and watched[1].startswith(f"{job_id}: completed")
    assert watched[2].count(job_id) >= 2  # a line per change on a non-terminal stderr
    assert shown[0] == 0 and "status:       completed" in shown[1] and "owner:        e2e" in shown[1]
    assert listed[0] == 0 and job_id in listed[1]
    assert history[0] == 0 and "JobCompleted" in history[1] and "hash chain verified" in history[1]
    assert [json.loads(line)["type"] for line in as_json[1].splitlines()][-1] == "JobCompleted"
    assert json.loads(stats[1])["owner"] == "e2e"


def test_a_refused_move_over_http_is_one_line_naming_the_conflict(running: Running, capsys) -> None:
    job_id = run(capsys, "jobs", "create", "--kind", "demo.count", "--params", SLOW, *remote(running))[1].strip()
    cancelled = run(capsys, "jobs", "cancel", job_id, *remote(running))
    refused = run(capsys, "jobs", "retry", job_id, *remote(running))
    missing = run(capsys, "jobs", "show", str(uuid.uuid4()), *remote(running))
    assert cancelled[0] == 0 and "now cancelled" in cancelled[1]
    assert refused[0] == 1 and refused[2].startswith("jobtrail: error: 409 Conflict") and "\n" == refused[2][-1]
    assert missing[0] == 1 and "404" in missing[2] and "no such job" in missing[2]
    assert running.key not in refused[2] + missing[2]


def test_schedules_over_http_belong_to_the_key_s_owner(running: Running, capsys) -> None:
    params = ("--params", '{"total": 0}')
    code, out, _ = run(
        capsys, "schedules", "create", "--kind", "demo.count", *params, "--cron", "0 4 * * *", *remote(running)
    )
    schedule_id = out.split(":")[0]
    paused = run(capsys, "schedules", "pause", schedule_id, *remote(running))
    fired = run(capsys, "schedules", "trigger", schedule_id, *remote(running))
    listed = run(capsys, "schedules", "list", *remote(running))
    deleted = run(capsys, "schedules", "delete", schedule_id, *remote(running))
    with_owner = run(
        capsys, "schedules", "create", "--owner", "x", "--kind", "k", "--cron", "* * * * *", *remote(running)
    )
    assert code == 0 and "created, active" in out
    assert "now paused" in paused[1] and "job " in fired[1] and schedule_id in listed[1] and "now deleted" in deleted[1]
    assert with_owner[0] == 1 and "--owner does not apply over HTTP" in with_owner[2]


@pytest.mark.parametrize("missing", ["--url", "--key"])
def test_half_a_remote_is_refused_rather_than_falling_back_to_the_database(missing: str, capsys) -> None:
    given = ("--key", "jt_x_y") if missing == "--url" else ("--url", "http://127.0.0.1:9")
    code, _, err = run(capsys, "jobs", "list", *given)
    assert code == 1 and "needs both JOBTRAIL_URL and JOBTRAIL_API_KEY" in err


def test_the_command_line_loads_the_client_only_when_it_goes_remote() -> None:
    probe = "import sys, service.cli; print('jobtrail.client' in sys.modules)"
    repo = Path(__file__).resolve().parents[2]
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=repo, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"
