"""`jobtrail projections rebuild [--shadow]`: progress on stderr as documented, result on stdout."""

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.service.cli.run import run

JOBTRAIL = str(Path(sys.executable).with_name("jobtrail"))
PLAIN_LINE = re.compile(
    r"folding the log: (?P<done>[\d,]+) of (?P<total>[\d,]+) events \((?P<percent>\d+)%\), [\d,]+ events/s, \d+ s left"
)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ANSI_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
COUNT_EVENTS = "SELECT count(*) FROM events"


def events_in(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(COUNT_EVENTS).fetchone()[0]


@pytest.mark.parametrize("flags", [(), ("--shadow",)], ids=["plain", "shadow"])
def test_outside_a_terminal_progress_is_one_plain_line_per_tenth_ending_at_every_event(cli_database, capsys, flags):
    run(capsys, "demo", "--jobs", "12")
    code, out, err = run(capsys, "projections", "rebuild", *flags)
    assert code == 0 and "\x1b" not in err and "\r" not in err
    lines = [PLAIN_LINE.fullmatch(line) for line in err.splitlines()]
    assert lines and all(lines)
    percents = [int(line["percent"]) for line in lines]
    assert percents == sorted(set(percents)) and percents[-1] == 100 and len(percents) <= 10
    total = events_in(cli_database)
    assert lines[-1]["done"] == lines[-1]["total"] == f"{total:,}"
    assert out.count("\n") == 1 and "12 jobs" in out


def test_quiet_rebuilds_print_no_progress(cli_database, capsys):
    run(capsys, "demo", "--jobs", "2")
    code, out, err = run(capsys, "projections", "rebuild", "--shadow", "--quiet")
    assert (code, err) == (0, "")
    assert out.startswith("job_status rebuilt in its shadow and swapped in: 2 jobs; 0 changed during the fold")


def test_the_drift_check_still_works_after_a_shadow_swap(cli_database, capsys):
    run(capsys, "demo", "--jobs", "3")
    assert run(capsys, "projections", "rebuild", "--shadow", "--quiet")[0] == 0
    assert run(capsys, "projections", "verify")[0] == 0
    with psycopg.connect(cli_database, autocommit=True) as conn:
        (job_id,) = conn.execute("SELECT stream_id FROM job_status LIMIT 1").fetchone()
        conn.execute("UPDATE job_status SET attempts = attempts + 7 WHERE stream_id = %s", [job_id])
    code, out, _ = run(capsys, "projections", "verify")
    assert code == 3 and UUID.findall(out) == [str(job_id)] and "attempts" in out
    assert run(capsys, "projections", "rebuild", "--shadow", "--quiet")[0] == 0
    assert run(capsys, "projections", "verify")[0] == 0


def test_a_shadow_rebuild_while_another_runs_is_a_one_line_error(cli_database, capsys):
    with psycopg.connect(cli_database, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('jobtrail.shadow_rebuild'))")
        code, out, err = run(capsys, "projections", "rebuild", "--shadow")
    assert (code, out) == (1, "")
    assert err == "jobtrail: error: another `projections rebuild --shadow` is running\n"


def test_on_a_terminal_progress_is_a_bar_and_stdout_keeps_only_the_result(cli_database, capsys):
    run(capsys, "demo", "--jobs", "4")
    controller, terminal = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    process = subprocess.Popen(
        [JOBTRAIL, "projections", "rebuild", "--shadow"], env=env, stdout=subprocess.PIPE, stderr=terminal
    )
    os.close(terminal)
    drawn = b""
    while chunk := _read(controller):
        drawn += chunk
    os.close(controller)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    screen = ANSI_CONTROL.sub("", drawn.decode())
    assert "\x1b" in drawn.decode()  # drawn in place, as a terminal allows
    assert "folding the log" in screen and "━" in screen and "events/s" in screen
    assert f"{events_in(cli_database)}/{events_in(cli_database)} events" in screen
    assert out.decode().startswith("job_status rebuilt in its shadow and swapped in: 4 jobs")


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal's other end closed: the process is done with it
        return b""
