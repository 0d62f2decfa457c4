"""A running `jobtrail serve` keeps its stats view current in the background and exports metrics."""

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import create, wait_for, wait_until_final


def metric(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def test_finished_jobs_reach_the_stats_and_the_metrics_without_anyone_running_the_projection(api):
    done = create(api, params={"total": 40, "per_batch": 20})
    failing = create(api, params={"total": 40, "fail_every": 1})
    wait_until_final(api, done["id"])
    wait_until_final(api, failing["id"])

    def projected() -> bool:
        return api.get("/v1/stats").json()["finished"]["total"] == 2

    wait_for(projected, "the background runner to project both finished jobs")
    stats = api.get("/v1/stats").json()
    text = api.get("/metrics").text

    assert stats["jobs"]["by_status"] == {"completed": 1, "error": 1}
    assert (stats["finished"]["failed"], stats["finished"]["failure_rate"]) == (1, 0.5)
    assert stats["finished"]["durations_by_kind"]["demo.count"]["completed"] == 1
    assert metric(text, "jobtrail_jobs_finished_total", kind="demo.count", status="completed") == 1
    assert metric(text, "jobtrail_jobs_finished_total", kind="demo.count", status="error") == 1
    assert metric(text, "jobtrail_deliveries_total", outcome="ok") >= 3  # two runs and the failure callback
    assert metric(text, "jobtrail_deliveries_total", outcome="failed") == 4  # demo.count: 4 attempts
    assert metric(text, "jobtrail_batch_duration_seconds_count", kind="demo.count") == 2
