"""The whole loop over loopback: API → outbox → relay → broker → signed webhook → events."""

import pytest

from tests.e2e.conftest import create, history, runs_done, wait_for, wait_until_final


def types(events: list[dict]) -> list[str]:
    return [event["type"] for event in events]


def test_a_job_runs_across_continuations_to_completion_with_its_batches_and_results(api):
    job = create(api, params={"total": 100, "per_batch": 20})
    done = wait_until_final(api, job["id"])
    assert (done["status"], done["outcome"]) == ("completed", "exhausted")
    assert (done["processed_runs"], done["processed_results"]) == (5, 100)
    events = history(api, job["id"])
    assert types(events).count("BatchRecorded") == 5
    assert all(e["provenance"]["actor"] == "qstash" for e in events if e["type"] == "BatchRecorded")
    results = api.get(f"/v1/jobs/{job['id']}/results", params={"limit": 100}).json()
    assert [b["run"] for b in results["batches"]] == [1, 2, 3, 4, 5]
    assert [i for b in results["batches"] for i in b["items"]] == list(range(100))


def test_a_job_stops_exactly_at_max_runs(api):
    job = create(api, params={"total": 10_000, "per_batch": 10}, max_runs=4)
    done = wait_until_final(api, job["id"])
    assert (done["outcome"], done["processed_runs"]) == ("max_runs_reached", 4)
    assert types(history(api, job["id"])).count("ContinuationScheduled") == 3


def test_a_job_completes_when_its_target_is_met(api):
    job = create(api, params={"total": 10_000, "per_batch": 30}, target_results=100)
    done = wait_until_final(api, job["id"])
    assert (done["outcome"], done["processed_runs"], done["progress"]) == ("target_met", 4, 100.0)


CLEAN_HISTORY = (
    ["JobCreated", "JobStarted"]
    + ["BatchRecorded", "ContinuationScheduled"] * 5
    + [
        "BatchRecorded",
        "JobCompleted",
    ]
)


@pytest.mark.parametrize("service", ["duplicate,shuffle"], indirect=True)
def test_duplicated_and_shuffled_deliveries_leave_the_same_history_as_a_clean_run(api):
    jobs = [create(api, params={"total": 60, "per_batch": 10}) for _ in range(5)]
    for job in jobs:
        wait_until_final(api, job["id"])
        events = history(api, job["id"])
        assert types(events) == CLEAN_HISTORY
        assert [e["version"] for e in events] == list(range(1, len(CLEAN_HISTORY) + 1))


def test_transient_handler_failures_are_retried_to_success(api):
    job = create(api, params={"total": 60, "per_batch": 20, "fail_every": 2})
    done = wait_until_final(api, job["id"])
    assert (done["status"], done["processed_results"]) == ("completed", 60)
    failures = [e for e in history(api, job["id"]) if e["type"] == "DeliveryFailed"]
    assert failures and all(e["data"]["attempt"] == e["provenance"]["retried"] + 1 for e in failures)


def test_an_always_failing_handler_ends_in_error_through_the_failure_callback(api):
    job = create(api, params={"total": 60, "fail_every": 1})
    done = wait_until_final(api, job["id"])
    assert (done["status"], done["outcome"]) == ("error", "retries_exhausted")
    failed = history(api, job["id"])[-1]
    assert failed["type"] == "JobFailed" and failed["data"]["dlq_id"]
    assert failed["provenance"]["actor"] == "qstash-failure-callback"
    attempts = [e["data"]["attempt"] for e in history(api, job["id"]) if e["type"] == "DeliveryFailed"]
    assert attempts == [1, 2, 3, 4]  # demo.count: 3 retries, so 4 attempts


def test_a_permanent_error_fails_the_job_at_once(api):
    job = create(api, params={"total": 100, "per_batch": 10, "fail_permanently_at": 2})
    done = wait_until_final(api, job["id"])
    assert (done["status"], done["outcome"], done["processed_runs"]) == ("error", "permanent_error", 1)
    assert "DeliveryFailed" not in types(history(api, job["id"]))


def test_cancelling_mid_run_stops_the_job_before_its_next_batch(api):
    job = create(api, params={"total": 100_000, "per_batch": 10, "slow_ms": 100})
    wait_for(lambda: runs_done(api, job["id"]) >= 1, "the first batch")
    assert api.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
    done = wait_until_final(api, job["id"])
    assert done["status"] == "cancelled"
    events = types(history(api, job["id"]))
    assert "BatchRecorded" not in events[events.index("JobCancelled") :]


def test_a_job_past_its_deadline_times_out_and_a_late_delivery_changes_nothing(api):
    job = create(api, params={"total": 100_000, "per_batch": 10, "slow_ms": 150}, deadline_s=0.5)
    done = wait_until_final(api, job["id"])
    assert done["status"] == "timeout"
    settled = history(api, job["id"])
    assert types(settled).count("JobTimedOut") == 1
    import time

    time.sleep(0.5)  # a delivery in flight when the deadline passed lands now, as a no-op
    assert history(api, job["id"]) == settled
