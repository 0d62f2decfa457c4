"""The audit log's routes: signed checkpoints of the Merkle tree, consistency proofs between
tree sizes, and the public keys that verify them (docs/audit.md).

Checkpoints and consistency proofs describe the whole log, every owner's events, so they
take `audit:read`; the keys are public and any valid API key reads them. A job's own
inclusion proof is with the job's audit routes (service/api/audit.py).
"""

from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.params import QueryParameter

from projections import merkle_tree
from projections.checkpoints import Checkpoint, document
from projections.log import checkpoints_after, latest_checkpoint
from service.api.auth import BEARER, require
from service.api.dependencies import Caller, CurrentSettings, Pool
from service.api.problems import ProblemError, problem_responses
from service.audit.checkpoints import AuditKey, keys
from service.audit.signing_key import load_signer
from service.auth.keys import Scope

MAX_SIZE = 2**63 - 1


class AuditKeys(msgspec.Struct, frozen=True, kw_only=True):
    keys: list[AuditKey]


class Checkpoints(msgspec.Struct, frozen=True, kw_only=True):
    checkpoints: list[Checkpoint]


class ConsistencyProof(msgspec.Struct, frozen=True, kw_only=True):
    from_size: int
    to_size: int
    from_root: str
    to_root: str
    proof: list[str]  # hex (RFC 9162 consistency proof)


class AuditLogController(Controller):
    path = "/v1/audit"
    tags = ["audit"]
    security = BEARER

    @get(
        "/keys", summary="The public keys that sign checkpoints, current and retired", responses=problem_responses(401)
    )
    async def keys(self, principal: Caller, pool: Pool, settings: CurrentSettings) -> AuditKeys:
        async with pool.connection() as conn:
            return AuditKeys(keys=await keys(conn, load_signer(settings)))

    @get(
        "/checkpoints/latest",
        summary="The newest signed checkpoint of the log's Merkle tree",
        responses=problem_responses(401, 403, 404),
    )
    async def latest(self, principal: Caller, pool: Pool) -> Checkpoint:
        require(principal, Scope.AUDIT_READ)
        async with pool.connection() as conn:
            latest = await latest_checkpoint(conn)
        if latest is None:
            raise ProblemError(404, "no checkpoint has been issued yet")
        return document(latest[1])

    @get(
        "/checkpoints",
        summary="Signed checkpoints of trees larger than `after`, smallest first",
        responses=problem_responses(400, 401, 403),
    )
    async def checkpoints(
        self,
        principal: Caller,
        pool: Pool,
        after: Annotated[int, QueryParameter(ge=0, le=MAX_SIZE)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> Checkpoints:
        require(principal, Scope.AUDIT_READ)
        async with pool.connection() as conn:
            found = await checkpoints_after(conn, after, limit)
        return Checkpoints(checkpoints=[document(c) for c in found])

    @get(
        "/consistency",
        summary="A proof that the tree of size `to` extends the tree of size `from` (RFC 9162)",
        responses=problem_responses(400, 401, 403),
    )
    async def consistency(
        self,
        principal: Caller,
        pool: Pool,
        # Required, but checked after the key: a caller without one learns only that (401).
        from_size: Annotated[int | None, QueryParameter(name="from", ge=0, le=MAX_SIZE)] = None,
        to_size: Annotated[int | None, QueryParameter(name="to", ge=0, le=MAX_SIZE)] = None,
    ) -> ConsistencyProof:
        require(principal, Scope.AUDIT_READ)
        if from_size is None or to_size is None:
            raise ProblemError(400, "both `from` and `to` (tree sizes) are required")
        if from_size > to_size:
            raise ProblemError(400, "`from` must not be larger than `to`")
        async with pool.connection() as conn:
            size = await merkle_tree.tree_size(conn)
            if to_size > size:
                raise ProblemError(400, f"the tree has {size} leaves: `to` may be at most that")
            proof = await merkle_tree.consistency_proof(conn, from_size, to_size)
            from_root, to_root = await merkle_tree.root(conn, from_size), await merkle_tree.root(conn, to_size)
        return ConsistencyProof(
            from_size=from_size,
            to_size=to_size,
            from_root=from_root.hex(),
            to_root=to_root.hex(),
            proof=[h.hex() for h in proof],
        )
