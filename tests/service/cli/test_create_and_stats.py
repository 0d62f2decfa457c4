"""`jobs create` and `stats` on the database (no JOBTRAIL_URL): the operator's own job, the service's figures."""

import json
import uuid

import psycopg

from tests.service.cli.run import run


def test_jobs_create_makes_an_owners_job_as_the_api_would_and_prints_its_id(cli_database, capsys):
    code, out, _ = run(capsys, "jobs", "create", "--owner", "acme", "--kind", "demo.count", "--params", '{"total": 5}')
    job_id = uuid.UUID(out.strip())
    with psycopg.connect(cli_database) as conn:
        owner, status = conn.execute("SELECT owner, status FROM job_status WHERE stream_id = %s", [job_id]).fetchone()
        (actor,) = conn.execute("SELECT metadata->>'actor' FROM events WHERE stream_id = %s", [job_id]).fetchone()
    assert code == 0 and (owner, status) == ("acme", "pending") and actor.startswith("cli:")


def test_jobs_create_refuses_bad_params_and_a_missing_owner_in_one_line(cli_database, capsys):
    bad = run(capsys, "jobs", "create", "--owner", "acme", "--kind", "demo.count", "--params", '{"total": -1}')
    ownerless = run(capsys, "jobs", "create", "--kind", "demo.count", "--params", '{"total": 1}')
    assert bad[0] == 1 and "total" in bad[2] and bad[2].count("\n") == 1
    assert ownerless[0] == 1 and "--owner is required" in ownerless[2]


def test_stats_on_the_database_counts_every_owners_jobs(cli_database, capsys):
    for owner in ("acme", "globex"):
        run(capsys, "jobs", "create", "--owner", owner, "--kind", "demo.count", "--params", '{"total": 5}')
    code, out, _ = run(capsys, "stats", "--json")
    report = json.loads(out)
    text = run(capsys, "stats", "--owner", "acme")[1]
    assert code == 0 and report["owner"] is None and report["verdict"] in {"healthy", "degraded", "unhealthy"}
    assert "verdict:" in text and "acme's jobs" in text
