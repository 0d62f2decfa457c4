"""What every serving process runs for the audit log: the tree's runner, and the issuer of
checkpoints every JOBTRAIL_CHECKPOINT_S.

Both are safe with any number of processes: the tree is grown under its runner
checkpoint's row lock, and a checkpoint is issued by whichever process appends it first
(service/audit/checkpoints.py); the others find it there, or conflict and issue nothing.
"""

import asyncio
import contextlib
import logging

import psycopg
from psycopg_pool import AsyncConnectionPool

from projections.merkle_tree import MerkleTree
from projections.runner import follow
from service.audit.checkpoints import issue
from service.audit.signing_key import AuditSigner
from service.clock import now
from service.store.outage import DatabaseUnavailable, Outage

logger = logging.getLogger("jobtrail.audit")


async def grow_tree(database_url: str, stop: asyncio.Event, outage: Outage, retry_s: float = 1.0) -> None:
    """Tail the log into the Merkle tree until `stop`; a failed round is retried on a new
    connection (its leaves were not committed, so none is given twice)."""
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
                outage.recovered()
                await follow(conn, MerkleTree(), stop)
        except DatabaseUnavailable as error:
            outage.failed("the Merkle tree", error)
        except Exception:
            logger.exception("Merkle tree round failed")
        await _pause(stop, retry_s)


async def issue_checkpoints(
    pool: AsyncConnectionPool, signer: AuditSigner, every_s: float, stop: asyncio.Event, outage: Outage
) -> None:
    """Offer a checkpoint every `every_s` until `stop`; one is issued when the log grew. A
    failed offer is only late: the next period signs the tree as it is then."""
    while not await _pause(stop, every_s):
        try:
            async with pool.connection() as conn:
                checkpoint = await issue(conn, signer, now())
            if checkpoint is not None:
                logger.info("checkpoint issued: tree size %d, key %s", checkpoint.tree_size, checkpoint.key_id)
        except DatabaseUnavailable as error:
            outage.failed("the checkpoint issuer", error)
        except Exception:
            logger.exception("issuing a checkpoint failed")


async def _pause(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` or until `stop`; whether stop is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
    return stop.is_set()
