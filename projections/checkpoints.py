"""Signed checkpoints as auditors see them, and their verification: usable without a database.

A checkpoint document is what the API serves, what an export carries and what
`jobtrail audit verify-consistency` reads from a file. Its signature is Ed25519 over
domain.checkpoint.signed_text; a checkpoint whose key the verifier does not hold is
refused as such, not as a bad signature, so the two failures read differently.
"""

import base64
import binascii
from collections.abc import Mapping

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from domain.checkpoint import CheckpointIssued, key_id_of, signed_text, timestamp


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    tree_size: int
    root_hash: str  # hex
    issued_at: str  # exactly as signed: UTC, microseconds, Z
    key_id: str
    signature: str  # base64


class CheckpointError(ValueError):
    """A checkpoint that is not what a known key signed; the message says why."""


def document(event: CheckpointIssued) -> Checkpoint:
    return Checkpoint(
        tree_size=event.tree_size,
        root_hash=event.root_hash,
        issued_at=timestamp(event.at),
        key_id=event.key_id,
        signature=event.signature,
    )


def signed_bytes(checkpoint: Checkpoint) -> bytes:
    return signed_text(checkpoint.tree_size, checkpoint.root_hash, checkpoint.issued_at, checkpoint.key_id)


def parse_public_key(text: str | bytes) -> bytes:
    """A raw 32-byte Ed25519 public key from its base64 text or a PEM public key."""
    raw = text.encode() if isinstance(text, str) else text
    raw = raw.strip()
    if raw.startswith(b"-----BEGIN"):
        key = load_pem_public_key(raw)
        if not isinstance(key, Ed25519PublicKey):
            raise CheckpointError("the PEM key is not an Ed25519 public key")
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    try:
        decoded = base64.b64decode(raw, validate=True)
    except binascii.Error:
        raise CheckpointError("a public key is base64 of 32 bytes, or PEM") from None
    if len(decoded) != 32:
        raise CheckpointError(f"an Ed25519 public key is 32 bytes, not {len(decoded)}")
    return decoded


def keyring(public_keys: list[bytes]) -> dict[str, bytes]:
    """key id -> public key."""
    return {key_id_of(key): key for key in public_keys}


def verify_checkpoint(checkpoint: Checkpoint, keys: Mapping[str, bytes]) -> None:
    """Raise CheckpointError unless one of `keys` signed exactly this checkpoint."""
    public = keys.get(checkpoint.key_id)
    if public is None:
        raise CheckpointError(
            f"the checkpoint of tree size {checkpoint.tree_size} is signed by an unknown key {checkpoint.key_id}"
        )
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        Ed25519PublicKey.from_public_bytes(public).verify(signature, signed_bytes(checkpoint))
    except (InvalidSignature, binascii.Error, ValueError):
        raise CheckpointError(
            f"the signature of the checkpoint of tree size {checkpoint.tree_size}"
            f" does not verify with key {checkpoint.key_id}"
        ) from None


def root_bytes(checkpoint: Checkpoint) -> bytes:
    try:
        root = bytes.fromhex(checkpoint.root_hash)
    except ValueError:
        raise CheckpointError("the checkpoint's root_hash is not hex") from None
    if len(root) != 32:
        raise CheckpointError("the checkpoint's root_hash is not 32 bytes")
    return root
