"""The signing key: made by `jobtrail audit keygen`, read from JOBTRAIL_AUDIT_KEY as a file or
a value, or generated once into the data directory; checkpoints on demand, and job
projections that pass over the checkpoints' stream."""

import json
from pathlib import Path

import pytest

from domain.checkpoint import CHECKPOINT_STREAM
from projections.checkpoints import Checkpoint, keyring, parse_public_key, verify_checkpoint
from projections.drift import find_drift
from projections.rebuild import rebuild_job_status
from projections.replay import replay_all
from service.audit.signing_key import DEV_KEY_FILE, load_signer
from service.cli import main
from service.settings import Settings, SettingsError
from tests.service.api.conftest import auth
from tests.service.audit.trees import Audited, cli, get_json

pytestmark = pytest.mark.anyio


def test_keygen_writes_a_private_key_that_signs_as_the_public_key_it_prints(tmp_path: Path, capsys) -> None:
    out = tmp_path / "audit-key.pem"
    assert main(["audit", "keygen", "--out", str(out)]) == 0
    public = capsys.readouterr().err.split("public key ")[1].split(" ")[0]
    assert out.stat().st_mode & 0o777 == 0o600
    signer = load_signer(Settings(data_dir=tmp_path, audit_key=str(out)))
    assert signer.public_key == parse_public_key(public)
    assert main(["audit", "keygen", "--out", str(out)]) == 1  # never over an existing key
    assert "exists" in capsys.readouterr().err


def test_the_key_may_be_given_as_its_pem_text(tmp_path: Path, capsys) -> None:
    assert main(["audit", "keygen"]) == 0
    pem = capsys.readouterr().out
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert load_signer(Settings(data_dir=tmp_path, audit_key=pem)).key_id


def test_without_a_key_a_development_key_is_made_once_in_the_data_dir(tmp_path: Path) -> None:
    first = load_signer(Settings(data_dir=tmp_path))
    assert (tmp_path / DEV_KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert load_signer(Settings(data_dir=tmp_path)).key_id == first.key_id
    assert repr(first) == f"AuditSigner(key_id={first.key_id!r})"  # never the private half


def test_a_key_that_is_neither_a_key_nor_a_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="JOBTRAIL_AUDIT_KEY is neither a key") as refused:
        load_signer(Settings(data_dir=tmp_path, audit_key="not-a-key/secret-ish"))
    assert "secret-ish" not in str(refused.value)


def test_the_checkpoint_period_is_a_setting() -> None:
    assert Settings.from_env({"JOBTRAIL_CHECKPOINT_S": "5"}).checkpoint_s == 5.0
    with pytest.raises(SettingsError, match="JOBTRAIL_CHECKPOINT_S"):
        Settings.from_env({"JOBTRAIL_CHECKPOINT_S": "0"})


async def test_checkpoint_on_demand_signs_what_is_new_and_otherwise_prints_the_latest(audited: Audited, capsys) -> None:
    capsys.readouterr()
    assert await cli("audit", "checkpoint") == 0
    latest = Checkpoint(**json.loads(capsys.readouterr().out))
    assert latest == Checkpoint(**await get_json(audited.client, "/v1/audit/checkpoints/latest", audited.keys.auditor))
    verify_checkpoint(latest, keyring([audited.signer.public_key]))
    listed = await get_json(audited.client, "/v1/audit/checkpoints", audited.keys.auditor)
    sizes = [c["tree_size"] for c in listed["checkpoints"]]
    assert sizes == sorted(set(sizes)) and sizes[-1] == latest.tree_size
    assert await cli("audit", "check") == 0
    assert "OK: the log still gives the signed root" in capsys.readouterr().out


async def test_job_projections_pass_over_the_checkpoints_stream(audited: Audited, pool) -> None:
    async with pool.connection() as conn:
        states = await replay_all(conn)
        assert CHECKPOINT_STREAM not in states and len(states) == 2
        assert await find_drift(conn) == []
        assert await rebuild_job_status(conn) == 2
    response = await audited.client.get(f"/v1/jobs/{CHECKPOINT_STREAM}", headers=auth(audited.keys.auditor))
    assert response.status_code == 404
    events = await audited.client.get(f"/v1/jobs/{CHECKPOINT_STREAM}/events", headers=auth(audited.keys.auditor))
    assert events.status_code == 404
