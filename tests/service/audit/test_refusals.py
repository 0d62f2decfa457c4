"""What an auditor's checks refuse, each with a reason that says what is wrong: a tampered
signature, a checkpoint signed by an unknown key, a truncated proof, an export without a
checkpoint; and what they accept: an export older than checkpoints, events not yet signed."""

import base64
import json
from pathlib import Path

import msgspec
import pytest

from projections.checkpoints import Checkpoint, CheckpointError, keyring, parse_public_key, verify_checkpoint
from projections.export import read_export, verify_inclusion_in
from tests.service.api.conftest import auth
from tests.service.audit.trees import Audited, cli, get_json, new_signer

pytestmark = pytest.mark.anyio


async def exported(audited: Audited) -> list[bytes]:
    response = await audited.client.get(f"/v1/jobs/{audited.job}/export", headers=auth(audited.keys.acme))
    assert response.status_code == 200
    return response.content.splitlines(keepends=True)


def edited(lines: list[bytes], kind: str, change) -> list[bytes]:
    """The lines with the first line of `kind` passed through `change` (a dict -> dict)."""
    out, done = [], False
    for line in lines:
        item = json.loads(line)
        if item["kind"] == kind and not done:
            line, done = json.dumps(change(item)).encode() + b"\n", True
        out.append(line)
    return out


def inclusion(lines: list[bytes], *keys: str):
    return verify_inclusion_in(read_export(lines), keyring([parse_public_key(k) for k in keys]))


async def test_an_export_carries_its_checkpoint_and_a_proof_per_event_before_its_head(audited: Audited) -> None:
    lines = await exported(audited)
    assert [json.loads(line)["kind"] for line in lines] == ["event", "event", "checkpoint", "proof", "proof", "head"]
    report = inclusion(lines, audited.public_key)
    assert report.ok and report.proven == 2 and report.unproven == 0


async def test_a_tampered_signature_is_refused(audited: Audited, tmp_path: Path, capsys) -> None:
    def flip(item: dict) -> dict:
        signature = bytearray(base64.b64decode(item["signature"]))
        signature[0] ^= 1
        return {**item, "signature": base64.b64encode(bytes(signature)).decode()}

    lines = edited(await exported(audited), "checkpoint", flip)
    report = inclusion(lines, audited.public_key)
    assert not report.ok and "signature" in report.problem and "does not verify" in report.problem
    file = tmp_path / "tampered.ndjson"
    file.write_bytes(b"".join(lines))
    assert await cli("verify-export", str(file), "--key", audited.public_key) == 3
    assert "signed checkpoint NOT VERIFIED: the signature" in capsys.readouterr().out


async def test_a_changed_root_or_size_breaks_the_signature_too(audited: Audited) -> None:
    lines = await exported(audited)
    grown = edited(lines, "checkpoint", lambda item: {**item, "tree_size": item["tree_size"] + 1})
    assert "does not verify" in inclusion(grown, audited.public_key).problem


async def test_a_checkpoint_signed_by_an_unknown_key_is_refused(audited: Audited, tmp_path: Path, capsys) -> None:
    lines = await exported(audited)
    stranger = new_signer().public_text
    report = inclusion(lines, stranger)
    assert not report.ok and f"signed by an unknown key {audited.signer.key_id}" in report.problem
    file = tmp_path / "export.ndjson"
    file.write_bytes(b"".join(lines))
    key_file = tmp_path / "stranger.pub"
    key_file.write_text(stranger + "\n")
    assert await cli("verify-export", str(file), "--key", str(key_file)) == 3
    assert "unknown key" in capsys.readouterr().out


async def test_a_truncated_proof_is_refused(audited: Audited, tmp_path: Path, capsys) -> None:
    lines = edited(await exported(audited), "proof", lambda item: {**item, "path": item["path"][:-1]})
    report = inclusion(lines, audited.public_key)
    assert not report.ok and report.problem.startswith("version 1: the inclusion proof is truncated")
    file = tmp_path / "truncated.ndjson"
    file.write_bytes(b"".join(lines))
    assert await cli("verify-export", str(file), "--key", audited.public_key) == 3
    out = capsys.readouterr().out
    assert "hash chain verified" in out and "truncated" in out


async def test_a_proof_of_another_leaf_is_refused(audited: Audited) -> None:
    lines = edited(await exported(audited), "proof", lambda item: {**item, "leaf_index": item["leaf_index"] + 1})
    assert "is not in the tree" in inclusion(lines, audited.public_key).problem


async def test_an_export_without_a_checkpoint_verifies_its_chain_but_proves_nothing_signed(
    audited: Audited, tmp_path: Path, capsys
) -> None:
    lines = [line for line in await exported(audited) if json.loads(line)["kind"] in ("event", "head")]
    file = tmp_path / "old-style.ndjson"
    file.write_bytes(b"".join(lines))
    assert await cli("verify-export", str(file)) == 0  # as exports were before checkpoints
    assert await cli("verify-export", str(file), "--key", audited.public_key) == 3
    assert "the export holds no signed checkpoint" in capsys.readouterr().out


async def test_events_after_the_checkpoint_are_counted_unproven_not_failed(audited: Audited) -> None:
    client, key = audited.client, audited.keys.acme
    response = await client.post("/v1/jobs", json={"kind": "demo.count", "params": {"total": 3}}, headers=auth(key))
    job = response.json()["id"]
    proof = await get_json(client, f"/v1/jobs/{job}/proof", key)
    assert proof["proofs"] == [] and proof["unproven"] == [1]


async def test_verify_consistency_refuses_a_tampered_checkpoint_file(audited: Audited, tmp_path: Path, capsys) -> None:
    checkpoint = await get_json(audited.client, "/v1/audit/checkpoints/latest", audited.keys.auditor)
    (tmp_path / "old.json").write_text(json.dumps(checkpoint))
    (tmp_path / "new.json").write_text(json.dumps({**checkpoint, "issued_at": "2030-01-01T00:00:00.000000Z"}))
    old, new = str(tmp_path / "old.json"), str(tmp_path / "new.json")
    assert await cli("audit", "verify-consistency", old, old, "--key", audited.public_key) == 0
    assert await cli("audit", "verify-consistency", old, new, "--key", audited.public_key) == 3
    assert "does not verify" in capsys.readouterr().out


def test_a_signature_that_is_not_base64_is_refused_as_not_verifying() -> None:
    signer = new_signer()
    checkpoint = Checkpoint(tree_size=1, root_hash="00" * 32, issued_at="x", key_id=signer.key_id, signature="%%%")
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_checkpoint(checkpoint, keyring([signer.public_key]))
    assert msgspec.json.decode(msgspec.json.encode(checkpoint), type=Checkpoint) == checkpoint
