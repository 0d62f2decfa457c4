"""`jobtrail schedules`: create, list, show, pause, resume, trigger, delete, as an operator."""

import re

import psycopg

from tests.service.cli.run import run

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NOBODY = "00000000-0000-0000-0000-000000000000"
COUNT = ("--kind", "demo.count", "--params", '{"total": 40}')


def create(capsys, *extra: str) -> str:
    code, out, err = run(capsys, "schedules", "create", "--owner", "acme", *COUNT, "--cron", "30 2 * * *", *extra)
    assert code == 0, err
    found = UUID.search(out)
    assert found, out
    return found.group()


def test_create_then_show_prints_the_cron_in_words_and_five_next_fires(cli_database, capsys):
    schedule = create(capsys, "--time-zone", "Europe/Berlin")

    code, out, _ = run(capsys, "schedules", "show", schedule)

    assert code == 0
    assert "At 02:30 every day" in out and "Europe/Berlin" in out and '"total":40' in out
    assert len(re.findall(r"^  \d{4}-\d\d-\d\dT02:30:00\+0[12]:00", out, re.M)) == 5


def test_list_shows_every_owners_schedules_and_filters_by_status(cli_database, capsys):
    first, second = create(capsys), create(capsys, "--paused")

    code, out, _ = run(capsys, "schedules", "list")
    _, paused, _ = run(capsys, "schedules", "list", "--status", "paused")

    assert code == 0 and UUID.findall(out) == [second, first]
    assert UUID.findall(paused) == [second]


def test_pause_resume_and_delete_record_the_operator(cli_database, capsys):
    schedule = create(capsys)

    assert "now paused" in run(capsys, "schedules", "pause", schedule)[1]
    assert "already paused; nothing changed" in run(capsys, "schedules", "pause", schedule)[1]
    assert "now active" in run(capsys, "schedules", "resume", schedule)[1]
    assert "now deleted" in run(capsys, "schedules", "delete", schedule)[1]
    code, _, err = run(capsys, "schedules", "resume", schedule)

    assert code == 1 and "cannot resume a schedule that is deleted" in err
    with psycopg.connect(cli_database) as conn:
        actors = conn.execute(
            "SELECT DISTINCT metadata->>'actor' FROM events WHERE stream_id = %s", [schedule]
        ).fetchall()
    assert [actor for (actor,) in actors] and all(actor.startswith("cli:") for (actor,) in actors)


def test_trigger_creates_one_job_owned_by_the_schedules_owner(cli_database, capsys):
    schedule = create(capsys, "--overlap", "allow")

    code, out, _ = run(capsys, "schedules", "trigger", schedule)

    assert code == 0 and "job" in out
    job = UUID.findall(out)[-1]
    with psycopg.connect(cli_database) as conn:
        owner, kind = conn.execute("SELECT owner, kind FROM job_status WHERE stream_id = %s", [job]).fetchone()
    assert (owner, kind) == ("acme", "demo.count")


def test_a_bad_cron_an_unknown_kind_and_a_missing_schedule_are_one_line_errors(cli_database, capsys):
    for args, message in [
        (("create", "--owner", "acme", *COUNT, "--cron", "61 * * * *"), "minute"),
        (("create", "--owner", "acme", "--kind", "nope", "--cron", "* * * * *"), "nope"),
        (("create", "--owner", "acme", *COUNT, "--cron", "* * * * *", "--time-zone", "X/Y"), "X/Y"),
        (("show", NOBODY), "no such schedule"),
        (("pause", NOBODY), "no such schedule"),
    ]:
        code, out, err = run(capsys, "schedules", *args)
        assert code == 1 and out == "" and err.count("\n") == 1 and message in err, (args, err)
