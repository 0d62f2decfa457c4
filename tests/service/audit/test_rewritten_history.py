"""An owner of the database rewrites a history and recomputes its chain: the chain still
verifies, but the signed checkpoints do not let it pass.

The attack is run as the database's owner would: the log's triggers disabled, a value
changed, every later hash recomputed with the database's own canonical form. Then the
tree is rebuilt over the forged log, as a thorough attacker would, and the service signs
it: the old export still proves the original against the old checkpoint, and the
consistency proof between the checkpoints before and after fails.
"""

import json
from pathlib import Path

import pytest
from msgspec.structs import asdict
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from domain.merkle import ProofError, leaf_hash, verify_inclusion
from projections.export import read_export, verify_chain
from tests.service.api.conftest import auth
from tests.service.audit.trees import Audited, checkpoint_now, cli, get_json

pytestmark = pytest.mark.anyio

FORGE = """
UPDATE events SET data = jsonb_set(data, '{params,total}', '41') WHERE stream_id = %(job)s AND version = 1
"""
RELINK = """
UPDATE events e SET prev_hash = p.hash FROM events p
 WHERE e.stream_id = %(job)s AND e.version = %(version)s AND p.stream_id = e.stream_id AND p.version = e.version - 1
"""
REHASH = """
UPDATE events SET hash = sha256(coalesce(prev_hash, ''::bytea)
       || convert_to(event_canonical(stream_id, version, type, data, metadata, recorded_at), 'UTF8'))
 WHERE stream_id = %(job)s AND version = %(version)s
"""
REBUILD_TREE = (
    "ALTER TABLE merkle_leaves DISABLE TRIGGER USER",
    "ALTER TABLE merkle_nodes DISABLE TRIGGER USER",
    "TRUNCATE merkle_leaves, merkle_nodes",
    "ALTER TABLE merkle_leaves ENABLE TRIGGER USER",
    "ALTER TABLE merkle_nodes ENABLE TRIGGER USER",
    "UPDATE projection_checkpoints SET transaction_id = '0', position = 0 WHERE name = 'merkle'",
)


async def rewrite(conn: AsyncConnection, job: str, versions: int) -> None:
    """Change the job's first event and recompute every hash of its chain, triggers off."""
    async with conn.transaction():
        await conn.execute("ALTER TABLE events DISABLE TRIGGER USER")
        await conn.execute(FORGE, {"job": job})
        for version in range(1, versions + 1):
            await conn.execute(RELINK, {"job": job, "version": version})
            await conn.execute(REHASH, {"job": job, "version": version})
        await conn.execute("ALTER TABLE events ENABLE TRIGGER USER")


async def test_a_job_owner_and_an_auditor_get_its_proof_and_another_owner_does_not(audited: Audited) -> None:
    client, keys = audited.client, audited.keys
    proof = await get_json(client, f"/v1/jobs/{audited.job}/proof", keys.acme)
    assert proof == await get_json(client, f"/v1/jobs/{audited.job}/proof", keys.auditor)
    assert (await client.get(f"/v1/jobs/{audited.job}/proof", headers=auth(keys.globex))).status_code == 404
    checkpoint = proof["checkpoint"]
    assert [p["version"] for p in proof["proofs"]] == [1, 2] and proof["unproven"] == []
    for leaf in proof["proofs"]:
        verify_inclusion(
            leaf["leaf_index"],
            checkpoint["tree_size"],
            leaf_hash(bytes.fromhex(leaf["hash"])),
            [bytes.fromhex(h) for h in leaf["path"]],
            bytes.fromhex(checkpoint["root_hash"]),
        )
    assert checkpoint == await get_json(client, "/v1/audit/checkpoints/latest", keys.auditor)
    assert (await client.get("/v1/audit/checkpoints/latest", headers=auth(keys.acme))).status_code == 403
    listed = await get_json(client, "/v1/audit/checkpoints?after=0", keys.auditor)
    assert listed["checkpoints"] == [checkpoint]
    assert (await get_json(client, f"/v1/audit/checkpoints?after={checkpoint['tree_size']}", keys.auditor)) == {
        "checkpoints": []
    }
    unknown = await client.get(f"/v1/jobs/{audited.job}/proof?checkpoint=999", headers=auth(keys.acme))
    assert unknown.status_code == 404 and "999" in unknown.json()["detail"]
    served = await get_json(client, "/v1/audit/keys", keys.acme)
    assert served["keys"] == [
        {
            "key_id": audited.signer.key_id,
            "public_key": audited.public_key,
            "algorithm": "Ed25519",
            "current": True,
            "first_used": served["keys"][0]["first_used"],
        }
    ]


async def test_the_rewrite_is_caught_by_check_by_the_old_export_and_by_consistency(
    audited: Audited, pool: AsyncConnectionPool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, keys, key = audited.client, audited.keys, audited.public_key
    old_export = tmp_path / "old.ndjson"
    old_export.write_bytes((await client.get(f"/v1/jobs/{audited.job}/export", headers=auth(keys.acme))).content)
    old_checkpoint = await get_json(client, "/v1/audit/checkpoints/latest", keys.auditor)
    (tmp_path / "old.json").write_text(json.dumps(old_checkpoint))
    old_proof = await get_json(client, f"/v1/jobs/{audited.job}/proof", keys.acme)
    assert await cli("verify-export", str(old_export), "--key", key) == 0
    assert "2 events are leaves of the tree of size" in capsys.readouterr().out
    assert await cli("audit", "check") == 0

    async with pool.connection() as conn:
        await rewrite(conn, audited.job, versions=2)
    forged = await get_json(client, f"/v1/jobs/{audited.job}/events", keys.acme)
    assert forged["chain"]["ok"] is True  # the hash chain alone no longer tells
    assert forged["events"][0]["data"]["params"]["total"] == 41

    capsys.readouterr()
    assert await cli("audit", "check") == 3
    out = capsys.readouterr().out
    first_leaf = old_proof["proofs"][0]["leaf_index"]
    assert f"first changed leaf: {first_leaf} " in out
    assert f"stream {audited.job}, version 1" in out

    # The tree rebuilt over the forged log, and the service signs it.
    async with pool.connection() as conn:
        for statement in REBUILD_TREE:
            await conn.execute(statement)
        new_checkpoint = await checkpoint_now(conn, audited.signer)
    (tmp_path / "new.json").write_text(json.dumps(asdict(new_checkpoint)))

    # The tree's own tables agree with the forged log now: check still fails, and bounds the change.
    capsys.readouterr()
    assert await cli("audit", "check") == 3
    out = capsys.readouterr().out
    assert f"no longer gives the signed root of tree size {old_checkpoint['tree_size']}" in out
    assert f"the change is among leaves 0 to {old_checkpoint['tree_size'] - 1}" in out

    # The old export still proves the original history against the old checkpoint ...
    assert await cli("verify-export", str(old_export), "--key", key) == 0
    # ... and its events are not in the new tree.
    new_proof = await get_json(client, f"/v1/jobs/{audited.job}/proof", keys.acme)
    original = read_export(old_export.read_bytes().splitlines())
    assert verify_chain(original).ok
    with pytest.raises(ProofError):
        verify_inclusion(
            new_proof["proofs"][0]["leaf_index"],
            new_checkpoint.tree_size,
            leaf_hash(bytes.fromhex(original.events[0].hash)),
            [bytes.fromhex(h) for h in new_proof["proofs"][0]["path"]],
            bytes.fromhex(new_checkpoint.root_hash),
        )

    # The consistency proof between the checkpoints before and after fails, from the API or the database.
    consistency = await get_json(
        client, f"/v1/audit/consistency?from={old_checkpoint['tree_size']}&to={new_checkpoint.tree_size}", keys.auditor
    )
    (tmp_path / "proof.json").write_text(json.dumps(consistency))
    capsys.readouterr()
    old_json, new_json = str(tmp_path / "old.json"), str(tmp_path / "new.json")
    proof_file = str(tmp_path / "proof.json")
    assert await cli("audit", "verify-consistency", old_json, new_json, "--proof", proof_file, "--key", key) == 3
    assert f"the tree of size {new_checkpoint.tree_size} does not extend" in capsys.readouterr().out
    assert await cli("audit", "verify-consistency", old_json, new_json) == 3


async def test_check_names_a_checkpoint_altered_in_the_log(
    audited: Audited, pool: AsyncConnectionPool, capsys: pytest.CaptureFixture[str]
) -> None:
    async with pool.connection() as conn:
        await checkpoint_now(conn, audited.signer)  # a second one: the first is now history
        await conn.execute("ALTER TABLE events DISABLE TRIGGER USER")
        await conn.execute(
            "UPDATE events SET data = jsonb_set(data, '{root_hash}', to_jsonb(repeat('0', 64)))"
            " WHERE type = 'CheckpointIssued' AND version = 1"
        )
        await conn.execute("ALTER TABLE events ENABLE TRIGGER USER")
    capsys.readouterr()
    assert await cli("audit", "check") == 3
    assert "the checkpoint in the log was altered or forged" in capsys.readouterr().out
