"""Checkpoints: the signed statements of the Merkle tree's size and root, kept in the log.

Every checkpoint is an event of one stream of its own, so the log records what was
signed and when, and later checkpoints cover earlier ones. What is signed is the
canonical text of `signed_text`, documented in docs/audit.md, so a verifier in any
language rebuilds it byte for byte; the signature itself (Ed25519) is made and checked
outside the domain.
"""

import base64
import hashlib
from datetime import UTC, datetime
from uuid import UUID

import msgspec

# The one stream every checkpoint is appended to: its versions number the checkpoints, and
# the stream's version check lets only one process issue each (service/audit/issuer.py).
CHECKPOINT_STREAM = UUID("89d9c6df-9ec1-560f-bcdb-be8d9cb88fdd")  # uuid5(URL, "jobtrail:checkpoints")

SIGNED_HEADER = "jobtrail checkpoint v1"


class CheckpointIssued(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="CheckpointIssued"):
    """The tree of `tree_size` leaves had `root_hash` at `at`, as signed by key `key_id`."""

    at: datetime
    tree_size: int
    root_hash: str  # hex
    key_id: str
    signature: str  # base64 Ed25519 signature of signed_text(...)


AnyCheckpointEvent = CheckpointIssued
CHECKPOINT_EVENT_TYPES = (CheckpointIssued,)


def timestamp(at: datetime) -> str:
    """An instant as the signed text spells it: UTC, microseconds, a Z."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def signed_text(tree_size: int, root_hash: str, issued_at: str, key_id: str) -> bytes:
    """The exact bytes a checkpoint's signature covers: five lines, each ending in a newline."""
    lines = (
        SIGNED_HEADER,
        f"tree_size {tree_size}",
        f"root_hash {root_hash}",
        f"issued_at {issued_at}",
        f"key_id {key_id}",
    )
    return "".join(line + "\n" for line in lines).encode()


def key_id_of(public_key: bytes) -> str:
    """A public key's short name: the first 8 bytes of its SHA-256, in hex."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def encode_key(public_key: bytes) -> str:
    return base64.b64encode(public_key).decode()
