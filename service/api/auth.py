"""Bearer API keys: who is calling, and whether they may.

A job is visible only to its owner; asking for another owner's job answers exactly as
for a job that does not exist. `audit:read` may read every owner's histories.
"""

from litestar import Request
from litestar.openapi.spec import SecurityRequirement

from service.api.dependencies import Caller, Pool
from service.api.problems import ProblemError
from service.api_keys import Principal, Scope, authenticate

# Declared on the routes that need a key, so the schema shows the health probes need none.
BEARER: list[SecurityRequirement] = [{"bearer": []}]


async def provide_principal(request: Request, pool: Pool) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ProblemError(401, "send an API key as `Authorization: Bearer <key>` (create one with `jobtrail keys create`)")
    async with pool.connection() as conn:
        principal = await authenticate(conn, key.strip())
    if principal is None:
        raise ProblemError(401, "the API key is unknown or revoked")
    return principal


def require(principal: Caller, scope: Scope) -> None:
    if scope not in principal.scopes:
        raise ProblemError(403, f"this API key lacks the '{scope}' scope")


def may_see(principal: Caller, owner: str) -> bool:
    return owner == principal.owner or Scope.AUDIT_READ in principal.scopes
