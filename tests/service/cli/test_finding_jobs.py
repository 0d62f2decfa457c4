"""Naming jobs by the start of their id, showing them as JSON, a history's first or last
events, and verifying an export from a file or standard input."""

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from domain.kinds import KindConfig, create_job
from projections.export import export_lines
from projections.log import Metadata, read_stream
from service.cli import NOT_VERIFIED
from service.jobs.command_handler import handle
from service.store.database import create_pool
from tests.service.cli.run import run


def jobs_with_ids(database_url: str, *ids: str) -> list[uuid.UUID]:
    """demo.count jobs created, through `handle`, under the given ids."""

    async def create() -> list[uuid.UUID]:
        pool = create_pool(database_url, max_size=1)
        await pool.open(wait=True)
        try:
            for job_id in ids:
                command = create_job("demo.count", KindConfig(max_runs=10), owner="acme", at=datetime.now(UTC))
                await handle(pool, uuid.UUID(job_id), command, Metadata(actor="test"))
        finally:
            await pool.close()
        return [uuid.UUID(job_id) for job_id in ids]

    return asyncio.run(create())


def export_of(database_url: str, job_id: uuid.UUID) -> bytes:
    async def read() -> bytes:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            return b"".join(export_lines(job_id, await read_stream(conn, job_id)))

    return asyncio.run(read())


def demo_job(database_url: str, capsys: pytest.CaptureFixture[str]) -> uuid.UUID:
    assert run(capsys, "demo", "--jobs", "1")[0] == 0
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT stream_id FROM job_status").fetchone()[0]


def test_a_job_is_shown_cancelled_and_its_history_read_by_a_prefix_of_its_id(cli_database, capsys):
    (job_id,) = jobs_with_ids(cli_database, "0b7e2c3e-5a1f-4c59-9d0e-3f7b2a1c9e44")
    jobs_with_ids(cli_database, "0b7f0000-0000-4000-8000-000000000000")

    code, out, _ = run(capsys, "jobs", "show", "0b7e")
    assert code == 0 and f"{job_id}" in out.splitlines()[0]
    assert run(capsys, "history", "0b7e2c3e-5a", "--verify")[0] == 0
    code, out, _ = run(capsys, "jobs", "cancel", "0B7E2C")
    assert code == 0 and out.startswith(f"{job_id}: now cancelled")


def test_an_ambiguous_prefix_is_refused_saying_how_many_jobs_share_it(cli_database, capsys):
    jobs_with_ids(cli_database, *(f"abcd{n:04x}-0000-4000-8000-000000000000" for n in range(12)))
    jobs_with_ids(cli_database, *(f"beef{n:04x}-0000-4000-8000-000000000000" for n in range(3)))

    assert run(capsys, "jobs", "show", "abcd0001")[0] == 0
    code, out, err = run(capsys, "jobs", "retry", "beef")
    assert code == 1 and out == "" and "'beef' is the start of 3 job ids" in err
    code, _, err = run(capsys, "history", "abcd000")
    assert code == 1 and "'abcd000' is the start of more than 10 job ids" in err


@pytest.mark.parametrize("prefix", ["abc", "not-hex!", "0b7e2c3e5a1f4c599d0e3f7b2a1c9e4g"])
def test_a_prefix_too_short_or_not_hex_is_a_usage_error(prefix, capsys):
    with pytest.raises(SystemExit) as exited:
        run(capsys, "jobs", "show", prefix)
    assert exited.value.code == 2 and "is not a job id" in capsys.readouterr().err


def test_a_prefix_no_job_begins_with_is_not_found(cli_database, capsys):
    code, _, err = run(capsys, "jobs", "show", "ffff")
    assert code == 1 and "no such job" in err


def test_jobs_list_and_show_print_the_apis_documents_with_json(cli_database, capsys):
    (job_id,) = jobs_with_ids(cli_database, "0b7e2c3e-5a1f-4c59-9d0e-3f7b2a1c9e44")

    code, out, _ = run(capsys, "jobs", "list", "--json")
    listed = json.loads(out)
    code_show, shown, _ = run(capsys, "jobs", "show", str(job_id), "--json")

    assert code == code_show == 0
    assert listed["jobs"] == [json.loads(shown)]
    assert json.loads(shown)["id"] == str(job_id) and json.loads(shown)["status"] == "pending"


def test_history_shows_its_first_or_last_events_and_verifies_them_all(cli_database, capsys):
    job_id = demo_job(cli_database, capsys)
    everything = run(capsys, "history", str(job_id), "--json")[1].splitlines()

    first = run(capsys, "history", str(job_id), "--json", "--limit", "2")[1].splitlines()
    code, out, err = run(capsys, "history", str(job_id), "--json", "--tail", "1", "--verify")

    assert first == everything[:2] and out.splitlines() == everything[-1:]
    assert code == 0 and f"{len(everything)} events" in err


def test_verify_export_reads_standard_input_and_fails_verification_on_a_cut_short_file(cli_database, capsys, tmp_path):
    job_id = demo_job(cli_database, capsys)
    export = export_of(cli_database, job_id)
    command = [sys.executable, "-m", "service.cli", "verify-export", "-"]

    whole = subprocess.run(command, input=export, capture_output=True, check=False)
    cut = subprocess.run(command, input=export[: len(export) // 2], capture_output=True, check=False)
    (tmp_path / "cut.ndjson").write_bytes(export.rsplit(b"\n", 2)[0] + b"\n")  # the head line lost
    code, out, _ = run(capsys, "verify-export", str(tmp_path / "cut.ndjson"))

    assert whole.returncode == 0 and b"hash chain verified" in whole.stdout
    assert cut.returncode == NOT_VERIFIED == 3 and cut.stdout.startswith(b"NOT VERIFIED: line ")
    assert code == NOT_VERIFIED and out == "NOT VERIFIED: no head line: the export is truncated\n"
