"""The audit log's Merkle tree: how fast it grows, how fast it proves, what signing costs.

1. Catch-up from zero of `projections.merkle_tree.MerkleTree` over a log loaded like
   bench_rebuild's (jobs of 20 events), against the runner feeding a subscriber that does
   nothing (the cost of reading and decoding the log alone), best of 2.
2. Proofs at 1,000,000 leaves: a tree built directly in `merkle_leaves` and
   `merkle_nodes` (the hashes computed by domain.merkle, written by COPY), then the
   inclusion proof of a random leaf, a consistency proof between a random size and the
   whole tree, and a root, each timed as the API reads it (median of 200).
3. A checkpoint's Ed25519 signature and its verification (CPU µs, mean of 5,000), and
   one whole `issue` at 1,000,000 leaves (read, sign, append; median of 20).
"""

import argparse
import asyncio
import base64
import json
import random
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg
from bench_rebuild import EVENTS_PER_JOB, load
from databases import scratch_database
from ratios import ratio_line

from domain.checkpoint import signed_text
from domain.merkle import appended, leaf_hash
from projections import merkle_tree
from projections.checkpoints import Checkpoint, keyring, verify_checkpoint
from projections.log import RecordedEvent
from projections.merkle_tree import STORED_FROM_LEVEL, MerkleTree
from projections.runner import catch_up
from service.audit.checkpoints import issue
from service.audit.signing_key import new_key_pem, signer_from

GOAL_VS_NOOP = 0.5
GOAL_PROOF_MS = 5.0
MILLION = 1_000_000
FORGET = "DELETE FROM projection_checkpoints WHERE name = %(name)s"
# The scratch database only: the tree's tables refuse TRUNCATE unless their triggers are off.
CLEAR_TREE = (
    "ALTER TABLE merkle_leaves DISABLE TRIGGER USER",
    "ALTER TABLE merkle_nodes DISABLE TRIGGER USER",
    "TRUNCATE merkle_leaves, merkle_nodes",
    "ALTER TABLE merkle_leaves ENABLE TRIGGER USER",
    "ALTER TABLE merkle_nodes ENABLE TRIGGER USER",
)
COPY_LEAVES = "COPY merkle_leaves (leaf_index, position, hash) FROM STDIN"
COPY_NODES = "COPY merkle_nodes (level, index, hash) FROM STDIN"


class Noop:
    name = "noop"

    async def apply(self, conn: psycopg.AsyncConnection, events: Sequence[RecordedEvent]) -> None:
        pass


async def catch_up_s(url: str, subscriber) -> tuple[float, int]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(FORGET, {"name": subscriber.name})
        if isinstance(subscriber, MerkleTree):
            for statement in CLEAR_TREE:
                await conn.execute(statement)
        started = time.perf_counter()
        count = await catch_up(conn, subscriber)
        return time.perf_counter() - started, count


def build_tree(url: str, leaves: int) -> float:
    """A tree of `leaves` random leaves straight into the tables; seconds taken."""
    started = time.perf_counter()
    data = [random.randbytes(32) for _ in range(leaves)]
    nodes, _ = appended([], 0, map(leaf_hash, data))
    with psycopg.connect(url) as conn:
        for statement in CLEAR_TREE:
            conn.execute(statement)
        with conn.cursor().copy(COPY_LEAVES) as copy:
            for index, hashed in enumerate(data):
                copy.write_row((index, -1 - index, hashed))
        with conn.cursor().copy(COPY_NODES) as copy:
            for node in nodes:
                if node[0] >= STORED_FROM_LEVEL:  # smaller subtrees are hashed from their leaves
                    copy.write_row(node)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM (ANALYZE) merkle_nodes")
        conn.execute("VACUUM (ANALYZE) merkle_leaves")
    return time.perf_counter() - started


async def proof_ms(url: str, size: int, repeats: int = 200) -> tuple[float, float, float]:
    """Median ms of an inclusion proof, a consistency proof and a root, at `size` leaves."""
    inclusion, consistency, roots = [], [], []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for _ in range(repeats):
            started = time.perf_counter()
            await merkle_tree.inclusion_proofs(conn, [random.randrange(size)], size)
            inclusion.append(time.perf_counter() - started)
            started = time.perf_counter()
            await merkle_tree.consistency_proof(conn, random.randrange(1, size), size)
            consistency.append(time.perf_counter() - started)
            started = time.perf_counter()
            await merkle_tree.root(conn, size)
            roots.append(time.perf_counter() - started)
    return tuple(statistics.median(times) * 1000 for times in (inclusion, consistency, roots))  # type: ignore[return-value]


def signature_us(rounds: int = 5_000) -> tuple[float, float]:
    """CPU µs to sign a checkpoint's text, and to verify the checkpoint as an auditor does."""
    signer = signer_from(new_key_pem())
    text = signed_text(MILLION, "ab" * 32, "2026-01-01T00:00:00.000000Z", signer.key_id)
    started = time.process_time()
    for _ in range(rounds):
        signature = signer.sign(text)
    sign = (time.process_time() - started) / rounds * 1e6
    checkpoint = Checkpoint(
        tree_size=MILLION,
        root_hash="ab" * 32,
        issued_at="2026-01-01T00:00:00.000000Z",
        key_id=signer.key_id,
        signature=base64.b64encode(signature).decode(),
    )
    keys = keyring([signer.public_key])
    started = time.process_time()
    for _ in range(rounds):
        verify_checkpoint(checkpoint, keys)
    return sign, (time.process_time() - started) / rounds * 1e6


async def issue_ms(url: str, repeats: int = 20) -> float:
    """Median ms of a whole `issue` at the current tree: each round signs a tree one leaf larger."""
    signer = signer_from(new_key_pem())
    times = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        size = await merkle_tree.tree_size(conn)
        for number in range(repeats):
            await conn.execute("ALTER TABLE merkle_leaves DISABLE TRIGGER USER")  # grow by one fake leaf
            hashed = random.randbytes(32)
            frontier = await merkle_tree._frontier(conn, size)
            nodes, _ = appended(frontier, size, [leaf_hash(hashed)])
            async with conn.cursor().copy(COPY_LEAVES) as copy:
                await copy.write_row((size, -10_000_000 - number, hashed))
            async with conn.cursor().copy(COPY_NODES) as copy:
                for node in nodes:
                    if node[0] >= STORED_FROM_LEVEL:
                        await copy.write_row(node)
            await conn.execute("ALTER TABLE merkle_leaves ENABLE TRIGGER USER")
            size += 1
            started = time.perf_counter()
            assert await issue(conn, signer, datetime.now(UTC), when_grew=False) is not None
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--leaves", type=int, default=MILLION, help="the proof tree's size")
    parser.add_argument("--quick", action="store_true", help="50,000 events")
    args = parser.parse_args()
    events = 50_000 if args.quick else args.events

    with scratch_database("merkle") as url:
        count, _ = load(url, max(1, events // EVENTS_PER_JOB))
        noop_s = min(asyncio.run(catch_up_s(url, Noop()))[0] for _ in range(2))
        tree_s = min(asyncio.run(catch_up_s(url, MerkleTree()))[0] for _ in range(2))
        built_s = build_tree(url, args.leaves)
        inclusion, consistency, root = asyncio.run(proof_ms(url, args.leaves))
        issued = asyncio.run(issue_ms(url))
    sign, verify = signature_us()

    noop_rate, tree_rate = count / noop_s, count / tree_s
    print(f"log of {count:,} events ({count // EVENTS_PER_JOB:,} jobs), catch-up from zero, best of 2")
    print(f"  runner, no-op subscriber   {noop_rate:12,.0f} events/s")
    print(f"  runner, Merkle tree        {tree_rate:12,.0f} leaves/s")
    print(f"tree of {args.leaves:,} leaves built straight into the tables in {built_s:.1f} s; median of 200:")
    print(f"  inclusion proof of one leaf   {inclusion:6.2f} ms")
    print(f"  consistency proof             {consistency:6.2f} ms")
    print(f"  root                          {root:6.2f} ms")
    print(
        f"checkpoint: sign {sign:.0f} µs CPU, verify {verify:.0f} µs CPU; a whole issue {issued:.2f} ms (median of 20)"
    )
    print("\nratios")
    print(ratio_line("tree/no-op catch-up", tree_rate / noop_rate, GOAL_VS_NOOP))
    print(ratio_line("proof goal/inclusion ms", GOAL_PROOF_MS / inclusion, 1.0))
    print(
        json.dumps(
            {
                "bench": "merkle",
                "events": count,
                "noop_events_per_s": round(noop_rate),
                "tree_leaves_per_s": round(tree_rate),
                "vs_noop": round(tree_rate / noop_rate, 2),
                "goal_vs_noop": GOAL_VS_NOOP,
                "proof_tree_leaves": args.leaves,
                "inclusion_proof_ms": round(inclusion, 2),
                "consistency_proof_ms": round(consistency, 2),
                "root_ms": round(root, 2),
                "goal_proof_ms": GOAL_PROOF_MS,
                "sign_us": round(sign),
                "verify_us": round(verify),
                "issue_ms": round(issued, 2),
                "goal_met": tree_rate / noop_rate >= GOAL_VS_NOOP and max(inclusion, consistency) < GOAL_PROOF_MS,
            }
        )
    )


if __name__ == "__main__":
    main()
