"""A real `jobtrail serve` keeps the Merkle tree and signs checkpoints by itself: a job run
through the whole loop exports with a checkpoint that proves every event, verified offline
with the public key the service serves, and later checkpoints extend the earlier ones."""

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import JOBTRAIL, Service, api_client, create, wait_for, wait_until_final


@pytest.fixture
def signing_service(database_url: str, tmp_path: Path) -> Iterator[Service]:
    running = Service(database_url, tmp_path)
    running.env["JOBTRAIL_CHECKPOINT_S"] = "1"
    running.start()
    try:
        yield running
    finally:
        running.stop()


def proven_export(api: httpx.Client, job_id: str) -> bytes:
    """The export once a checkpoint covers every event of the job."""
    found: dict[str, bytes] = {}

    def covered() -> bool:
        found["export"] = api.get(f"/v1/jobs/{job_id}/export").content
        kinds = [json.loads(line)["kind"] for line in found["export"].splitlines()]
        return "checkpoint" in kinds and kinds.count("proof") == kinds.count("event")

    wait_for(covered, "a checkpoint covering the job", timeout_s=60)
    return found["export"]


def test_the_service_signs_checkpoints_that_prove_a_finished_job_offline(
    signing_service: Service, key: str, auditor: str, tmp_path: Path
) -> None:
    with api_client(signing_service, key) as api, api_client(signing_service, auditor) as audit:
        job = create(api, params={"total": 40, "per_batch": 20})
        wait_until_final(api, job["id"])
        export = tmp_path / "job.ndjson"
        export.write_bytes(proven_export(api, job["id"]))
        (public,) = [k["public_key"] for k in api.get("/v1/audit/keys").json()["keys"] if k["current"]]
        first = audit.get("/v1/audit/checkpoints/latest").json()
        create(api, params={"total": 20, "per_batch": 20})
        wait_for(
            lambda: audit.get("/v1/audit/checkpoints/latest").json()["tree_size"] > first["tree_size"],
            "a later checkpoint",
            timeout_s=60,
        )
        later = audit.get("/v1/audit/checkpoints/latest").json()
        proof = audit.get("/v1/audit/consistency", params={"from": first["tree_size"], "to": later["tree_size"]})
    (tmp_path / "old.json").write_text(json.dumps(first))
    (tmp_path / "new.json").write_text(json.dumps(later))
    (tmp_path / "proof.json").write_text(proof.text)

    verified = subprocess.run(
        [JOBTRAIL, "verify-export", str(export), "--key", public], capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "signed checkpoint verified" in verified.stdout
    extends = subprocess.run(
        [JOBTRAIL, "audit", "verify-consistency", str(tmp_path / "old.json"), str(tmp_path / "new.json")]
        + ["--proof", str(tmp_path / "proof.json"), "--key", public],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert extends.returncode == 0, extends.stdout + extends.stderr
