"""The audit log's proofs: the Merkle tree's checkpoints, signed with a key outside the database."""
