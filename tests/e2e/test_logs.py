"""The real `jobtrail serve` writes JSON lines to a pipe, uvicorn's included, with each delivery's context."""

import json

from tests.e2e.conftest import create, wait_until_final


def test_a_served_job_leaves_json_lines_with_its_deliveries_context_and_no_key(service, api, key):
    job = create(api, params={"total": 60, "per_batch": 20, "fail_every": 2})
    assert wait_until_final(api, job["id"])["status"] == "completed"
    service.stop()

    text = service.log.read_text()
    # The log holds stdout too: the banner `jobtrail serve` prints for people.
    lines = [json.loads(line) for line in text.splitlines() if not line.startswith("jobtrail listening on")]
    assert any(line["logger"] == "uvicorn.error" for line in lines)
    failures = [line for line in lines if line["event"] == "the batch failed; QStash will retry"]
    assert failures  # fail_every=2: runs fail on their first attempt, then succeed
    for line in failures:
        assert line["job_id"] == job["id"] and line["kind"] == "demo.count" and line["level"] == "warning"
        assert line["message_id"] and line["request_id"] and line["run"] >= 1
    assert key not in text and key.split("_", 2)[2] not in text
