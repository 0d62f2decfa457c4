"""The operator's commands: jobs list/show/cancel/retry, sweep, a colored history; --help everywhere."""

import argparse
import asyncio
import getpass
import re
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from domain.commands import AnyCommand, FailJob, RecordBatch, StartRun
from domain.kinds import KindConfig, create_job
from projections.log import Metadata
from service.cli import main, parser
from service.jobs.command_handler import handle
from service.store.database import create_pool
from tests.service.cli.run import run

NOBODY = "00000000-0000-0000-0000-000000000000"
ESCAPE = "\x1b["


def make_job(
    database_url: str,
    *then: AnyCommand,
    owner: str = "acme",
    kind: str = "demo.count",
    at: datetime | None = None,
    deadline_s: float | None = None,
) -> uuid.UUID:
    """A job created (at `at`, with a deadline if given) and driven by `then`, through `handle`."""

    async def drive() -> uuid.UUID:
        stream_id = uuid.uuid4()
        config = KindConfig(max_runs=10, deadline_s=deadline_s, max_requeues=1)
        created = create_job(kind, config, owner=owner, at=at or datetime.now(UTC), params={"total": 40})
        pool = create_pool(database_url, max_size=1)
        await pool.open(wait=True)
        try:
            for command in (created, *then):
                await handle(pool, stream_id, command, Metadata(actor="test"))
        finally:
            await pool.close()
        return stream_id

    return asyncio.run(drive())


def completed(at: datetime) -> tuple[AnyCommand, ...]:
    return StartRun(at=at, run=1), RecordBatch(at=at, run=1, results=40, has_more=False)


def failed(at: datetime) -> tuple[AnyCommand, ...]:
    return (FailJob(at=at, reason="retries_exhausted", error="source down"),)


def last_event(database_url: str, stream_id: uuid.UUID) -> tuple[str, str]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT type, metadata ->> 'actor' FROM events WHERE stream_id = %s ORDER BY version DESC LIMIT 1",
            [stream_id],
        ).fetchone()
    assert row is not None
    return row


def assert_one_line_error(code: int, out: str, err: str, *words: str) -> None:
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("jobtrail: error: ")
    for word in words:
        assert word in err


def test_jobs_list_shows_every_owners_jobs_newest_first_and_filters_them(cli_database, capsys):
    now = datetime.now(UTC)
    older = make_job(cli_database, owner="acme", at=now - timedelta(minutes=5))
    done = make_job(cli_database, *completed(now), owner="globex", at=now - timedelta(minutes=1))
    newest = make_job(cli_database, owner="globex", kind="other.kind", at=now)

    code, out, _ = run(capsys, "jobs", "list")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:]] == [str(newest), str(done), str(older)]
    assert run(capsys, "jobs", "list", "--status", "completed")[1].count("\n") == 2  # header and one job
    assert str(done) in run(capsys, "jobs", "list", "--status", "completed")[1]
    assert str(older) in run(capsys, "jobs", "list", "--owner", "acme")[1]
    assert str(newest) not in run(capsys, "jobs", "list", "--owner", "acme")[1]
    assert str(newest) in run(capsys, "jobs", "list", "--kind", "other.kind")[1]
    code, out, _ = run(capsys, "jobs", "list", "--limit", "1")
    assert str(newest) in out and str(done) not in out and "raise --limit" in out
    assert run(capsys, "jobs", "list", "--owner", "nobody")[1] == "no jobs match\n"


def test_jobs_show_prints_one_jobs_status_and_an_unknown_job_is_a_one_line_error(cli_database, capsys):
    now = datetime.now(UTC)
    job = make_job(cli_database, *failed(now), owner="acme")

    code, out, _ = run(capsys, "jobs", "show", str(job))
    assert code == 0
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line and not line.startswith("its"))
    assert fields["status"].strip() == "error"
    assert fields["owner"].strip() == "acme"
    assert fields["last error"].strip() == "source down"
    assert fields["outcome"].strip() == "retries_exhausted"
    assert f"jobtrail history {job}" in out
    assert_one_line_error(*run(capsys, "jobs", "show", NOBODY), "no such job")


def test_jobs_cancel_records_the_operator_and_refuses_a_final_job_in_one_line(cli_database, capsys):
    now = datetime.now(UTC)
    pending = make_job(cli_database)
    done = make_job(cli_database, *completed(now))

    code, out, _ = run(capsys, "jobs", "cancel", str(pending), "--reason", "source retired")
    assert code == 0 and out == f"{pending}: now cancelled (version 2)\n"
    assert last_event(cli_database, pending) == ("JobCancelled", f"cli:{getpass.getuser()}")
    assert run(capsys, "jobs", "cancel", str(pending))[1] == f"{pending}: already cancelled; nothing changed\n"
    assert_one_line_error(*run(capsys, "jobs", "cancel", str(done)), "cannot cancel a job that is completed")
    assert last_event(cli_database, done)[0] == "JobCompleted"
    assert_one_line_error(*run(capsys, "jobs", "cancel", NOBODY), "no such job")


def test_jobs_retry_requeues_a_failed_job_with_a_fresh_deadline_and_refuses_a_pending_one(cli_database, capsys):
    now = datetime.now(UTC)
    job = make_job(cli_database, *failed(now))
    pending = make_job(cli_database)

    code, out, _ = run(capsys, "jobs", "retry", str(job))
    assert code == 0 and out == f"{job}: now pending (version 3)\n"
    assert last_event(cli_database, job) == ("JobRequeued", f"cli:{getpass.getuser()}")
    with psycopg.connect(cli_database) as conn:
        (deadline,) = conn.execute("SELECT deadline FROM job_status WHERE stream_id = %s", [job]).fetchone()
    assert deadline > now + timedelta(minutes=30)  # demo.count's deadline (an hour), counted from the retry
    assert_one_line_error(*run(capsys, "jobs", "retry", str(pending)), "cannot requeue a job that is pending")


def test_sweep_times_out_overdue_jobs_once_and_prints_its_report(cli_database, capsys):
    now = datetime.now(UTC)
    overdue = make_job(cli_database, at=now - timedelta(hours=2), deadline_s=60)
    on_time = make_job(cli_database, deadline_s=3600)

    code, out, _ = run(capsys, "sweep")
    assert code == 0 and out == "timed out 1 overdue job(s); re-dispatched 0 stalled job(s)\n"
    assert last_event(cli_database, overdue) == ("JobTimedOut", "sweeper")
    assert last_event(cli_database, on_time)[0] == "JobCreated"
    assert run(capsys, "sweep")[1] == "timed out 0 overdue job(s); re-dispatched 0 stalled job(s)\n"


def test_sweep_that_cannot_ask_qstash_about_a_stalled_job_is_a_one_line_error(cli_database, capsys, monkeypatch):
    stalled = make_job(cli_database)
    with psycopg.connect(cli_database, autocommit=True) as conn:
        conn.execute("UPDATE outbox SET sent_at = now() - interval '1 day', message_id = 'msg_gone'")
        conn.execute("UPDATE job_status SET updated_at = now() - interval '1 day' WHERE stream_id = %s", [stalled])
    monkeypatch.setenv("JOBTRAIL_BROKER_PORT", "1")  # the broker `serve` would run, as every command finds it

    assert_one_line_error(*run(capsys, "sweep"), "http://127.0.0.1:1", "--timeouts-only")
    code, out, _ = run(capsys, "sweep", "--timeouts-only")
    assert code == 0 and "re-dispatched 0" in out


def test_history_is_plain_when_piped_and_colored_when_color_is_forced(cli_database, capsys):
    now = datetime.now(UTC)
    job = make_job(cli_database, *completed(now))

    code, plain, _ = run(capsys, "history", str(job))
    assert code == 0 and ESCAPE not in plain
    assert [line.split()[3] for line in plain.splitlines()] == [
        "JobCreated",
        "JobStarted",
        "BatchRecorded",
        "JobCompleted",
    ]
    code, colored, _ = run(capsys, "history", str(job), "--color", "always")
    assert code == 0 and ESCAPE in colored
    assert colored.count("\n") == plain.count("\n")  # the same lines, never wrapped


def subcommands(command: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path to every command and action, groups included."""
    found = []
    for action in command._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += [(*path, name), *subcommands(sub, (*path, name))]
    return found


@pytest.mark.parametrize("path", subcommands(parser()), ids=" ".join)
def test_every_command_explains_itself_with_an_example(path, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0
    assert re.search(r"example:\n  .*\bjobtrail \w", capsys.readouterr().out)
