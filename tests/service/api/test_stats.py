"""`GET /v1/stats` and `GET /metrics` over a known history of ten jobs."""

from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from psycopg_pool import AsyncConnectionPool

from service.app import create_app
from service.health.metrics import Metrics
from service.jobs.observers import Observers
from service.settings import Settings
from tests.service.api.conftest import Keys, auth
from tests.service.health.stats_scenario import BATCH_MS, Scenario, project, run_scenario

pytestmark = pytest.mark.anyio


@pytest.fixture
async def scenario(app: Litestar, client: AsyncTestClient, pool: AsyncConnectionPool) -> Scenario:
    """The ten jobs, counted in the app's metrics, with the stats view caught up."""
    scenario = await run_scenario(pool, Observers(metrics=app.state.metrics))
    async with pool.connection() as conn:
        await project(conn)
    return scenario


async def stats(client: AsyncTestClient, key: str, **params: float) -> dict:
    response = await client.get("/v1/stats", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_an_audit_key_gets_every_owners_statistics_and_a_degraded_verdict(
    client: AsyncTestClient, keys: Keys, scenario: Scenario
) -> None:
    body = await stats(client, keys.auditor)

    assert body["outbox"].pop("oldest_age_s") >= 0
    assert body == {
        "verdict": "degraded",
        "reasons": ["3 of 9 finished jobs failed (33%)", "1 job(s) stuck in processing"],
        "owner": None,
        "window_s": 3600,
        "stuck_after_s": 900.0,
        "jobs": {
            "total": 10,
            "by_status": {"completed": 6, "error": 2, "timeout": 1, "processing": 1},
            "by_kind": {"demo.count": 7, "crawl": 3},
        },
        "finished": {
            "total": 9,
            "failed": 3,
            "failure_rate": 3 / 9,
            "durations_by_kind": {
                # percentile_cont: 95 % of the way through the sorted durations, interpolated
                "crawl": {"completed": 2, "avg_s": 90.0, "p95_s": 60 + 0.95 * 60},
                "demo.count": {"completed": 4, "avg_s": 25.0, "p95_s": 30 + 0.85 * 10},
            },
        },
        "stuck": {"count": 1, "job_ids": [str(scenario.jobs["count-stuck"])]},
        "outbox": {"unsent": 10},  # each job's first run; nothing relays them here
        "projection_lag": {"events": 0, "seconds": 0.0},
        "archived": 0,
    }


async def test_a_jobs_read_key_sees_only_its_owners_jobs(
    client: AsyncTestClient, keys: Keys, scenario: Scenario
) -> None:
    acme = await stats(client, keys.acme_read)
    globex = await stats(client, keys.globex)

    assert acme["owner"] == "acme"
    assert acme["jobs"] == {
        "total": 7,
        "by_status": {"completed": 4, "error": 1, "timeout": 1, "processing": 1},
        "by_kind": {"demo.count": 7},
    }
    assert (acme["finished"]["total"], acme["finished"]["failed"]) == (6, 2)
    assert list(acme["finished"]["durations_by_kind"]) == ["demo.count"]
    assert acme["stuck"] == {"count": 1, "job_ids": [str(scenario.jobs["count-stuck"])]}
    assert acme["reasons"] == ["2 of 6 finished jobs failed (33%)", "1 job(s) stuck in processing"]

    assert globex["jobs"]["by_kind"] == {"crawl": 3}
    assert (globex["finished"]["total"], globex["finished"]["failed"]) == (3, 1)
    assert globex["stuck"] == {"count": 0, "job_ids": []}
    # one failure in three finished jobs is too few to judge a rate by
    assert (globex["verdict"], globex["reasons"]) == ("healthy", [])


async def test_the_window_and_the_stuck_threshold_are_the_callers_to_choose(
    client: AsyncTestClient, keys: Keys, scenario: Scenario
) -> None:
    last_minute = await stats(client, keys.auditor, window_s=60)
    patient = await stats(client, keys.auditor, stuck_after_s=3600)

    assert last_minute["jobs"] == {"total": 0, "by_status": {}, "by_kind": {}}
    assert last_minute["finished"] == {"total": 0, "failed": 0, "failure_rate": None, "durations_by_kind": {}}
    assert last_minute["stuck"]["count"] == 1  # stuck is not a matter of the window
    assert patient["stuck"] == {"count": 0, "job_ids": []}
    assert patient["stuck_after_s"] == 3600
    assert patient["reasons"] == ["3 of 9 finished jobs failed (33%)"]


async def test_events_the_projection_has_not_seen_are_reported_as_lag(
    client: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    await run_scenario(pool)
    async with pool.connection() as conn:
        events = (await (await conn.execute("SELECT count(*) FROM events")).fetchone())[0]

    before = await stats(client, keys.auditor)
    async with pool.connection() as conn:
        await project(conn)
    after = await stats(client, keys.auditor)

    assert before["projection_lag"]["events"] == events
    assert before["projection_lag"]["seconds"] > 0
    assert before["jobs"]["total"] == 0  # the view has not been fed yet
    assert after["projection_lag"] == {"events": 0, "seconds": 0.0}
    assert after["jobs"]["total"] == 10


@pytest.mark.parametrize(
    "params",
    [
        {"window_s": 0},
        {"window_s": 10**9},
        {"window_s": "an hour"},
        {"stuck_after_s": 0},
        {"stuck_after_s": -5},
        {"stuck_after_s": "nan"},
    ],
)
async def test_out_of_bounds_parameters_are_a_400_problem(client: AsyncTestClient, keys: Keys, params: dict) -> None:
    response = await client.get("/v1/stats", params=params, headers=auth(keys.auditor))

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert next(iter(params)) in response.json()["detail"]


async def test_statistics_need_a_key_with_jobs_read_or_audit_read(client: AsyncTestClient, keys: Keys) -> None:
    assert (await client.get("/v1/stats")).status_code == 401
    forbidden = await client.get("/v1/stats", headers=auth(keys.acme_write))
    assert forbidden.status_code == 403
    assert "jobs:read" in forbidden.json()["detail"]


async def test_metrics_count_the_scenarios_jobs_batches_and_read_gauges_from_the_database(
    client: AsyncTestClient, keys: Keys, scenario: Scenario
) -> None:
    await client.get(f"/v1/jobs/{scenario.jobs['count-10s']}", headers=auth(keys.acme))
    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["content-type"].count("charset") == 1
    values = samples(response.text)

    def value(name: str, **labels: str) -> float:
        return values[(name, frozenset(labels.items()))]

    assert value("jobtrail_jobs_created_total", kind="demo.count") == 7
    assert value("jobtrail_jobs_created_total", kind="crawl") == 3
    finished = {
        ("demo.count", "completed"): 4,
        ("demo.count", "error"): 1,
        ("demo.count", "timeout"): 1,
        ("crawl", "completed"): 2,
        ("crawl", "error"): 1,
    }
    for (kind, status), count in finished.items():
        assert value("jobtrail_jobs_finished_total", kind=kind, status=status) == count
    assert value("jobtrail_batch_duration_seconds_count", kind="demo.count") == 4
    assert value("jobtrail_batch_duration_seconds_sum", kind="demo.count") == 4 * BATCH_MS / 1000
    assert value("jobtrail_batch_duration_seconds_count", kind="crawl") == 2
    assert value("jobtrail_event_append_seconds_count") == scenario.appends
    assert value("jobtrail_outbox_unsent") == 10
    assert value("jobtrail_projection_lag_events") == 0
    assert value("jobtrail_jobs_stuck") == 1
    read = {"method": "GET", "path": "/v1/jobs/{job_id}", "status_code": "200", "app_name": "jobtrail"}
    assert value("jobtrail_http_requests_total", **read) == 1


async def test_metrics_name_no_job_and_no_owner(client: AsyncTestClient, keys: Keys, scenario: Scenario) -> None:
    for job_id in scenario.jobs.values():
        await client.get(f"/v1/jobs/{job_id}", headers=auth(keys.acme))

    text = (await client.get("/metrics")).text

    assert not [job_id for job_id in scenario.jobs.values() if str(job_id) in text]
    assert "acme" not in text and "globex" not in text


async def test_two_apps_in_one_process_count_in_registries_of_their_own(
    client: AsyncTestClient, keys: Keys, database_url: str, tmp_path: Path
) -> None:
    other_app = create_app(Settings(database_url=database_url, data_dir=tmp_path), deliveries=False)
    async with AsyncTestClient(app=other_app) as other:
        await client.get("/v1/jobs", headers=auth(keys.acme))  # the first app's request alone
        ours = samples((await client.get("/metrics")).text)
        theirs = samples((await other.get("/metrics")).text)

    def listings(values: dict[tuple[str, frozenset], float]) -> float:
        return sum(
            value
            for (name, labels), value in values.items()
            if name == "jobtrail_http_requests_total" and ("path", "/v1/jobs") in labels
        )

    assert (listings(ours), listings(theirs)) == (1, 0)


async def test_request_metrics_count_by_route_template_and_status_and_skip_unknown_paths(
    client: AsyncTestClient, keys: Keys
) -> None:
    for _ in range(3):
        await client.get("/v1/jobs", headers=auth(keys.acme))
    await client.get("/v1/jobs")  # no key: 401
    await client.get("/v1/nothing-here")  # no route: never measured
    values = samples((await client.get("/metrics")).text)

    def value(name: str, path: str, status: int) -> float:
        labels = {"method": "GET", "path": path, "status_code": str(status), "app_name": "jobtrail"}
        return values.get((name, frozenset(labels.items())), 0)

    assert value("jobtrail_http_requests_total", "/v1/jobs", 200) == 3
    assert value("jobtrail_http_request_duration_seconds_count", "/v1/jobs", 200) == 3
    assert value("jobtrail_http_request_duration_seconds_sum", "/v1/jobs", 200) > 0
    assert value("jobtrail_http_requests_total", "/v1/jobs", 401) == 1
    assert value("jobtrail_http_requests_in_progress", "/v1/jobs", 200) == 0
    assert not [labels for name, labels in values if ("path", "/v1/nothing-here") in labels]
    assert not [name for name, _ in values if name == "jobtrail_http_requests_error_total"]  # no 5xx yet


def test_a_5xx_answer_counts_as_an_error_too() -> None:
    metrics = Metrics()
    metrics.request_answered("POST", "/qstash/run", 500, 0.01)
    metrics.request_answered("POST", "/qstash/run", 200, 0.01)
    values = samples(generate_latest(metrics.registry).decode())
    labels = {"method": "POST", "path": "/qstash/run", "app_name": "jobtrail"}
    errors = {
        status: values.get(("jobtrail_http_requests_error_total", frozenset({**labels, "status_code": status}.items())))
        for status in ("500", "200")
    }
    assert errors == {"500": 1, "200": None}
