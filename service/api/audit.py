"""Audit routes: a job's history with provenance, its state at any point, an export, and
the proof that the history is in a signed checkpoint's Merkle tree."""

import hashlib
import logging
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Response, get
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Stream

from domain.errors import JobNotFound
from domain.job import fold
from projections.chain import ChainReport, verify
from projections.checkpoints import Checkpoint
from projections.export import export_lines
from projections.log import RecordedEvent, job_event, job_owner, link, read_stream
from projections.proofs import NoSuchCheckpoint, signed_proofs
from service.api.auth import BEARER, may_see, require_read
from service.api.dependencies import Archives, Caller, Pool
from service.api.jobs import missing_job
from service.api.problems import ProblemError, problem_responses
from service.api.schemas import JobDocument, document
from service.archive.gone import JobArchived
from service.store import tombstones

logger = logging.getLogger("jobtrail.api")

# Versions are an `integer` column: a larger one can name no event, and is refused as such.
MAX_VERSION = 2**31 - 1


class EventDocument(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    version: int
    type: str
    data: dict[str, Any]
    recorded_at: datetime
    provenance: dict[str, Any]
    prev_hash: str | None
    hash: str


class History(msgspec.Struct, frozen=True, kw_only=True):
    job_id: UUID
    events: list[EventDocument]
    chain: ChainReport


class StateAt(msgspec.Struct, frozen=True, kw_only=True):
    job_id: UUID
    version: int
    at: datetime | None
    state: JobDocument


class LeafProof(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    leaf_index: int
    hash: str  # the event's chain hash: the leaf's data
    path: list[str]  # hex, bottom up (RFC 9162 inclusion path)


class JobProof(msgspec.Struct, frozen=True, kw_only=True):
    job_id: UUID
    checkpoint: Checkpoint
    proofs: list[LeafProof]
    unproven: list[int]  # versions recorded after the checkpoint's tree was signed


async def _history(pool: Pool, principal: Caller, job_id: UUID, **bounds) -> list[RecordedEvent]:
    """The job's events (within `bounds`, read by the database), if this caller may read them;
    otherwise a 404 like a missing job."""
    require_read(principal)
    async with pool.connection() as conn:
        events = await read_stream(conn, job_id, **bounds)
        if not events and bounds:  # an instant before the job existed, or no job at all
            created = await read_stream(conn, job_id, to_version=1)
            if (owner := job_owner(created)) is not None and may_see(principal, owner):
                raise ProblemError(404, "the job did not exist yet at that point")
    if not events:
        await missing_job(pool, principal, job_id)
    if (owner := job_owner(events)) is None or not may_see(principal, owner):
        raise JobNotFound()
    return events


def _attachment(job_id: UUID) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="job-{job_id}.ndjson"'}


async def _archived_export(pool: Pool, archives: Archives, principal: Caller, job_id: UUID) -> Response[bytes]:
    """An archived job's file, byte for byte, once its SHA-256 matches the tombstone's: a
    file that does not is refused, never served; a file the store no longer has is a 410."""
    async with pool.connection() as conn:
        stone = await tombstones.gone(conn, job_id)
    if stone is None or not may_see(principal, stone.owner):
        raise JobNotFound()
    data = await archives.read(stone.archive_name)
    if data is None:
        raise JobArchived(stone)
    if (found := hashlib.sha256(data).digest()) != stone.archive_sha256:
        logger.error(
            "an archive file does not match its tombstone; it is not served",
            extra={"job_id": str(job_id), "archive_name": stone.archive_name},
        )
        raise ProblemError(
            500,
            f"the archive file {stone.archive_name} of job {job_id} does not match its tombstone: its SHA-256 is "
            f"{found.hex()}, the tombstone's {stone.archive_sha256.hex()}; it is not served",
        )
    return Response(data, media_type="application/x-ndjson", headers=_attachment(job_id))


def event_document(e: RecordedEvent) -> EventDocument:
    return EventDocument(
        position=e.position,
        version=e.version,
        type=e.type,
        data=msgspec.json.decode(e.data),
        recorded_at=e.recorded_at,
        provenance={k: v for k, v in msgspec.structs.asdict(e.metadata).items() if v is not None},
        prev_hash=e.prev_hash.hex() if e.prev_hash else None,
        hash=e.hash.hex(),
    )


class AuditController(Controller):
    path = "/v1/jobs/{job_id:uuid}"
    tags = ["audit"]
    security = BEARER

    @get(
        "/events",
        summary="A job's whole history, with provenance and chain verification",
        responses=problem_responses(400, 401, 403, 404, 410),
    )
    async def events(self, job_id: FromPath[UUID], principal: Caller, pool: Pool) -> History:
        events = await _history(pool, principal, job_id)
        return History(
            job_id=job_id, events=[event_document(e) for e in events], chain=verify([link(e) for e in events])
        )

    @get(
        "/state",
        summary="The job's state folded from its log at a version or an instant",
        description="A `version` past the job's last is a 422 problem naming the last version.",
        responses=problem_responses(400, 401, 403, 404, 410, 422),
    )
    async def state(
        self,
        job_id: FromPath[UUID],
        principal: Caller,
        pool: Pool,
        version: Annotated[int | None, QueryParameter(ge=1, le=MAX_VERSION)] = None,
        at: FromQuery[datetime | None] = None,
    ) -> StateAt:
        if version is not None and at is not None:
            raise ProblemError(400, "give either `version` or `at`, not both")
        if at is not None and at.tzinfo is None:
            raise ProblemError(400, "`at` needs a time zone (RFC 3339, e.g. 2026-01-01T12:00:00Z)")
        events = await _history(pool, principal, job_id, to_version=version, as_of=at)
        state = fold(map(job_event, events))
        if version is not None and state.version < version:
            raise ProblemError(422, f"version {version} is past the job's last version, {state.version}")
        return StateAt(job_id=job_id, version=state.version, at=at, state=document(job_id, state))

    @get(
        "/export",
        summary="The history as NDJSON, verifiable offline with `jobtrail verify-export`",
        description=(
            "An archived job's export is its archive file, byte for byte, checked against its tombstone's "
            "SHA-256 first; 410 with the tombstone when the archive store no longer has the file."
        ),
        media_type="application/x-ndjson",
        responses=problem_responses(400, 401, 403, 404, 410),
    )
    async def export(
        self, job_id: FromPath[UUID], principal: Caller, pool: Pool, archives: Archives
    ) -> Stream | Response[bytes]:
        require_read(principal)
        async with pool.connection() as conn:
            events = await read_stream(conn, job_id)
        if not events:
            return await _archived_export(pool, archives, principal, job_id)
        if (owner := job_owner(events)) is None or not may_see(principal, owner):
            raise JobNotFound()
        async with pool.connection() as conn:
            signed = await signed_proofs(conn, events)
        return Stream(
            export_lines(job_id, events, signed), media_type="application/x-ndjson", headers=_attachment(job_id)
        )

    @get(
        "/proof",
        summary="An inclusion proof of each of the job's events in a signed checkpoint's tree",
        description="`checkpoint` is the tree size of a checkpoint (GET /v1/audit/checkpoints); unset, the latest.",
        responses=problem_responses(400, 401, 403, 404),
    )
    async def proof(
        self,
        job_id: FromPath[UUID],
        principal: Caller,
        pool: Pool,
        checkpoint: Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1)] = None,
    ) -> JobProof:
        events = await _history(pool, principal, job_id)
        async with pool.connection() as conn:
            try:
                signed = await signed_proofs(conn, events, checkpoint)
            except NoSuchCheckpoint as error:
                raise ProblemError(404, str(error)) from None
        if signed is None:
            raise ProblemError(404, "no checkpoint has been issued yet")
        hashes = {e.version: e.hash.hex() for e in events}
        proofs = [
            LeafProof(
                version=p.version, leaf_index=p.leaf_index, hash=hashes[p.version], path=[h.hex() for h in p.path]
            )
            for p in signed.proofs
        ]
        proven = {p.version for p in proofs}
        return JobProof(
            job_id=job_id,
            checkpoint=signed.checkpoint,
            proofs=proofs,
            unproven=[e.version for e in events if e.version not in proven],
        )
