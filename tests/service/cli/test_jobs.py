"""The operator's commands: demo, history, projections, migrate; errors are one line."""

import json
import re

import psycopg
import pytest

from tests.service.cli.run import run

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_the_demo_drives_jobs_to_every_ending_and_shows_a_verified_history(cli_database, capsys):
    code, out, _ = run(capsys, "demo", "--jobs", "6")
    assert code == 0
    for outcome in ("target_met", "exhausted", "max_runs_reached", "retries_exhausted", "deadline_passed", "operator"):
        assert outcome in out
    assert "hash chain verified" in out


def test_history_prints_a_timeline_ndjson_and_verifies_the_chain(cli_database, capsys):
    run(capsys, "demo", "--jobs", "1")
    with psycopg.connect(cli_database) as conn:
        (job_id,) = conn.execute("SELECT stream_id FROM job_status").fetchone()
    code, out, _ = run(capsys, "history", str(job_id), "--verify")
    assert code == 0 and "v1" in out and "JobCompleted" in out and "hash chain verified" in out
    code, out, _ = run(capsys, "history", str(job_id), "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["version"] for line in lines] == list(range(1, len(lines) + 1))


def test_history_exits_3_when_the_chain_is_broken(cli_database, capsys):
    run(capsys, "demo", "--jobs", "1")
    with psycopg.connect(cli_database, autocommit=True) as conn:
        (job_id,) = conn.execute("SELECT stream_id FROM job_status").fetchone()
        conn.execute("ALTER TABLE events DISABLE TRIGGER USER")
        conn.execute(
            "UPDATE events SET data = data || '{\"results\": 999}' WHERE stream_id = %s AND version = 3", [job_id]
        )
        conn.execute("ALTER TABLE events ENABLE TRIGGER USER")
    code, out, _ = run(capsys, "history", str(job_id), "--verify")
    assert code == 3 and "BROKEN at version 3" in out


def test_projections_verify_reports_drift_and_rebuild_repairs_it(cli_database, capsys):
    run(capsys, "demo", "--jobs", "2")
    assert run(capsys, "projections", "verify")[0] == 0
    with psycopg.connect(cli_database, autocommit=True) as conn:
        conn.execute("UPDATE job_status SET processed_runs = processed_runs + 1 WHERE kind = 'demo.count'")
    code, out, _ = run(capsys, "projections", "verify")
    assert code == 3 and "processed_runs" in out and len(UUID.findall(out)) == 2
    assert run(capsys, "projections", "rebuild")[0] == 0
    assert run(capsys, "projections", "verify")[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("history", "00000000-0000-0000-0000-000000000000"), "no such job"),
        (("verify-export", "/nonexistent/export.ndjson"), "No such file"),
    ],
)
def test_an_error_is_one_line_on_stderr_never_a_traceback(cli_database, capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("jobtrail: error: ") and message in err


def test_an_unreachable_database_is_one_line_without_the_password(monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone:s3cret@127.0.0.1:1/nowhere")
    code, _, err = run(capsys, "migrate")
    assert code == 1 and err.count("\n") == 1 and "s3cret" not in err and "cannot connect" in err


def test_a_bad_setting_is_one_line_naming_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("JOBTRAIL_PORT", "eighty")
    code, _, err = run(capsys, "migrate")
    assert code == 1 and "JOBTRAIL_PORT" in err and err.count("\n") == 1
