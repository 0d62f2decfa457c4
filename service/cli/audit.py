"""`jobtrail audit`: the signing key, checkpoints on demand, and the checks an auditor runs."""

import argparse
import os
import sys
from pathlib import Path

import msgspec

from domain.merkle import ProofError, verify_consistency
from projections import merkle_tree
from projections.checkpoints import (
    Checkpoint,
    CheckpointError,
    document,
    keyring,
    parse_public_key,
    root_bytes,
    verify_checkpoint,
)
from projections.log import latest_checkpoint
from projections.merkle_tree import MerkleTree
from projections.runner import catch_up
from service.audit.check import check
from service.audit.checkpoints import issue
from service.audit.signing_key import load_signer, new_key_pem, signer_from
from service.cli import NOT_VERIFIED
from service.cli.subcommand import add
from service.clock import now
from service.settings import Settings
from service.store.database import connected

_json = msgspec.json.Encoder()


class ConsistencyFile(msgspec.Struct, frozen=True, kw_only=True):
    """The body of GET /v1/audit/consistency, as saved by an auditor."""

    from_size: int
    to_size: int
    proof: list[str]


async def keygen_command(args: argparse.Namespace) -> int:
    pem = new_key_pem()
    signer = signer_from(pem)
    if args.out:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never over an existing key
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
        print(f"private key written to {args.out} (set JOBTRAIL_AUDIT_KEY={args.out})")
    else:
        sys.stdout.write(pem.decode())
    print(f"public key {signer.public_text} (key id {signer.key_id}): give it to your auditors", file=sys.stderr)
    return 0


async def checkpoint_command(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    signer = load_signer(settings)
    async with connected(settings) as pool, pool.connection() as conn:
        await catch_up(conn, MerkleTree())
        issued = await issue(conn, signer, now(), when_grew=False)
        if issued is None:
            latest = await latest_checkpoint(conn)
            print("nothing new to sign: the latest checkpoint covers the whole tree", file=sys.stderr)
            if latest is None:
                return 0
            issued = document(latest[1])
    print(_json.encode(issued).decode())
    return 0


async def check_command(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    keys = keys_of(args.key) or _own_key(settings)
    async with connected(settings) as pool, pool.connection() as conn:
        report = await check(conn, keys)
    if report.ok:
        detail = report.problem or f"the log still gives the signed root of tree size {report.tree_size}"
        print(f"OK: {detail} (checkpoint of {report.issued_at}, key {report.key_id})")
        return 0
    print(f"FAILED: {report.problem}")
    if (leaf := report.first_changed_leaf) is not None:
        print(
            f"first changed leaf: {leaf.leaf_index} (position {leaf.position}, stream {leaf.stream_id}, "
            f"version {leaf.version}): signed hash {leaf.signed_hash}, now {leaf.hash_now}"
        )
    elif report.changed_between is not None:
        start, end = report.changed_between
        print(f"the change is among leaves {start} to {end - 1} (the tree's own tables were rewritten too)")
    return NOT_VERIFIED


async def verify_consistency_command(args: argparse.Namespace) -> int:
    old, new = _checkpoint(args.old), _checkpoint(args.new)
    keys = keys_of(args.key)
    if args.proof:
        saved = msgspec.json.decode(Path(args.proof).read_bytes(), type=ConsistencyFile)
        if (saved.from_size, saved.to_size) != (old.tree_size, new.tree_size):
            print(
                f"FAILED: the proof is from {saved.from_size} to {saved.to_size},"
                f" not {old.tree_size} to {new.tree_size}"
            )
            return NOT_VERIFIED
        proof = [bytes.fromhex(h) for h in saved.proof]
    else:
        settings = Settings.from_env()
        keys = keys or _own_key(settings)
        async with connected(settings) as pool, pool.connection() as conn:
            if new.tree_size > await merkle_tree.tree_size(conn):
                raise CheckpointError(
                    f"this database's tree is smaller than {new.tree_size}: is it the log that was signed?"
                )
            proof = await merkle_tree.consistency_proof(conn, old.tree_size, new.tree_size)
    try:
        verify_checkpoint(old, keys)
        verify_checkpoint(new, keys)
        verify_consistency(old.tree_size, new.tree_size, root_bytes(old), root_bytes(new), proof)
    except (CheckpointError, ProofError) as error:
        print(f"FAILED: {error}")
        return NOT_VERIFIED
    print(
        f"OK: the tree of size {new.tree_size} ({new.issued_at})"
        f" extends the tree of size {old.tree_size} ({old.issued_at})"
    )
    return 0


def _checkpoint(path: str) -> Checkpoint:
    try:
        return msgspec.json.decode(Path(path).read_bytes(), type=Checkpoint)
    except msgspec.DecodeError as error:
        raise CheckpointError(f"{path}: not a checkpoint ({error})") from None


def _own_key(settings: Settings) -> dict[str, bytes]:
    """The service's current key, from JOBTRAIL_AUDIT_KEY: never a key the database lists,
    which whoever rewrote the database could have added."""
    return keyring([load_signer(settings).public_key])


def keys_of(texts: list[str] | None) -> dict[str, bytes]:
    """--key values: each a public key (base64 or PEM) or a file holding one."""
    keys = []
    for text in texts or []:
        path = Path(text).expanduser()
        keys.append(parse_public_key(path.read_bytes() if path.is_file() else text))
    return keyring(keys)


def register(subparsers) -> None:
    audit = subparsers.add_parser(
        "audit",
        help="the signing key, checkpoints and checks of the audit log",
        description="The Merkle tree over the log, its signed checkpoints and their checks (docs/audit.md).\n\n"
        "example:\n  jobtrail audit check",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = audit.add_subparsers(title="actions", required=True, metavar="ACTION")
    keygen = add(
        actions,
        "keygen",
        keygen_command,
        "make an Ed25519 signing key",
        "Make a key to sign checkpoints with; point JOBTRAIL_AUDIT_KEY at it. The public key\n"
        "(printed on stderr) is what auditors verify with.\n\n"
        "example:\n  jobtrail audit keygen --out /etc/jobtrail/audit-key.pem",
    )
    keygen.add_argument("--out", help="write the private key to this new file (mode 600) instead of stdout")
    add(
        actions,
        "checkpoint",
        checkpoint_command,
        "sign a checkpoint of the tree now and print it",
        "Bring the Merkle tree up to the log, sign its size and root, record the checkpoint in\n"
        "the log and print it as JSON (the latest one if nothing is new).\n\n"
        "example:\n  jobtrail audit checkpoint > checkpoint-1.json",
    )
    checker = add(
        actions,
        "check",
        check_command,
        "check the log against the latest checkpoint",
        "Rebuild the tree from the events as they are stored now and compare it with every\n"
        "signed checkpoint up to the latest; name the first changed leaf. Exits 3 on a mismatch.\n\n"
        "example:\n  jobtrail audit check --key audit-key.pub",
    )
    checker.add_argument(
        "--key", action="append", help="a trusted public key or its file (default: JOBTRAIL_AUDIT_KEY's public half)"
    )
    consistency = add(
        actions,
        "verify-consistency",
        verify_consistency_command,
        "check that a later checkpoint extends an earlier one",
        "Verify both checkpoints' signatures and a consistency proof between them: from --proof\n"
        "(the body of GET /v1/audit/consistency?from=OLD&to=NEW) offline, else from the database.\n"
        "Exits 3 when the later tree does not extend the earlier one.\n\n"
        "example:\n  jobtrail audit verify-consistency old.json new.json --proof proof.json --key KEY",
    )
    consistency.add_argument("old", help="the earlier checkpoint (JSON)")
    consistency.add_argument("new", help="the later checkpoint (JSON)")
    consistency.add_argument("--proof", help="a saved consistency proof (JSON)")
    consistency.add_argument(
        "--key", action="append", help="a trusted public key or its file (default: the service's own)"
    )
