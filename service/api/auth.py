"""Bearer API keys: who is calling, and whether they may.

A job is visible only to its owner; asking for another owner's job answers exactly as
for a job that does not exist. `audit:read` reads every owner's jobs (list, status,
results, histories, exports, live streams) and changes none: only `jobs:write` operates,
and only on the key owner's jobs.
"""

from uuid import UUID

from litestar import Request
from litestar.openapi.spec import SecurityRequirement

from domain.state import JobState
from service.api.dependencies import Caller, Pool
from service.api.problems import ProblemError
from service.auth.keys import Principal, Scope, authenticate, authenticate_with_job

# Declared on the routes that need a key, so the schema shows the health probes need none.
BEARER: list[SecurityRequirement] = [{"bearer": []}]


UNKNOWN_KEY = "the API key is unknown or revoked"


def bearer_key(request: Request) -> str:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ProblemError(
            401, "send an API key as `Authorization: Bearer <key>` (create one with `jobtrail keys create`)"
        )
    return key.strip()


async def provide_principal(request: Request, pool: Pool) -> Principal:
    async with pool.connection() as conn:
        principal = await authenticate(conn, bearer_key(request))
    if principal is None:
        raise ProblemError(401, UNKNOWN_KEY)
    return principal


async def principal_and_job(request: Request, pool: Pool, stream_id: UUID) -> tuple[Principal, JobState]:
    """The hot read path: authenticate and load the job in one round trip."""
    async with pool.connection() as conn:
        principal, state = await authenticate_with_job(conn, bearer_key(request), stream_id)
    if principal is None:
        raise ProblemError(401, UNKNOWN_KEY)
    return principal, state


def require(principal: Caller, scope: Scope) -> None:
    if scope not in principal.scopes:
        raise ProblemError(403, f"this API key lacks the '{scope}' scope")


def require_read(principal: Caller) -> None:
    """Reading jobs takes `jobs:read` (the owner's) or `audit:read` (every owner's); a key with
    neither is told the scope an ordinary client lacks."""
    if Scope.AUDIT_READ not in principal.scopes:
        require(principal, Scope.JOBS_READ)


def may_see(principal: Caller, owner: str) -> bool:
    return owner == principal.owner or Scope.AUDIT_READ in principal.scopes
