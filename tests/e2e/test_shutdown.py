"""SIGTERM with a job running: the server stops within its own graceful limit, cleanly, and the
job carries on after a restart (its run, lost with the in-process broker, is sent again at start)."""

import signal
import subprocess
import time

import httpx

from tests.e2e.conftest import Service, history, runs_done, wait_for, wait_until_final

# `jobtrail serve` gives open requests this long (uvicorn's timeout_graceful_shutdown).
GRACEFUL_LIMIT_S = 10


def terminate(service: Service) -> tuple[int, float]:
    """SIGTERM; the exit code and how long the process took to end."""
    assert service.process is not None
    started = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    try:
        code = service.process.wait(GRACEFUL_LIMIT_S * 4)
    except subprocess.TimeoutExpired:
        service.kill()
        raise
    return code, time.monotonic() - started


def test_sigterm_with_a_job_running_stops_within_the_graceful_limit(database_url, tmp_path, key):
    service = Service(database_url, tmp_path)
    api = httpx.Client(base_url=service.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    try:
        service.start()
        job = api.post(
            "/v1/jobs", json={"kind": "demo.count", "params": {"total": 200, "per_batch": 20, "slow_ms": 200}}
        ).json()
        wait_for(lambda: runs_done(api, job["id"]) >= 2, "two batches")
        code, took_s = terminate(service)
        service.start()
        done = wait_until_final(api, job["id"], timeout_s=60)
        events = history(api, job["id"])
    finally:
        api.close()
        service.stop()
    assert code == 0, service.log.read_text()[-3000:]
    assert took_s < GRACEFUL_LIMIT_S, f"took {took_s:.1f} s"
    assert (done["status"], done["processed_runs"]) == ("completed", 10)
    runs = [e["data"]["run"] for e in events if e["type"] == "BatchRecorded"]
    assert runs == list(range(1, 11))
