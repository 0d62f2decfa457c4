"""The job list: a keyset-paginated page under filters kept in the URL, or a search by id.

The "older" link carries the filters and the cursor of the last row shown, so it names
the same page whatever was created since (service/store/job_status.py `page`).
"""

from typing import Any
from urllib.parse import urlencode

from psycopg_pool import AsyncConnectionPool

from service.api.schemas import document
from service.auth.keys import Principal, Scope
from service.dashboard import search
from service.dashboard.views import STATUSES
from service.store.job_status import BadCursor, Filters, in_id_range, page

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
SEARCH_LIMIT = 50


def jobs_url(path: str, **query: Any) -> str:
    """A list URL with only the parameters that say something, in a stable order."""
    kept = {name: value for name, value in query.items() if value not in (None, "", PAGE_SIZE)}
    return f"{path}?{urlencode(kept)}" if kept else path


async def listed(
    pool: AsyncConnectionPool,
    principal: Principal,
    status: str | None,
    kind: str | None,
    cursor: str | None,
    limit: int = PAGE_SIZE,
) -> dict[str, Any]:
    owner = None if Scope.AUDIT_READ in principal.scopes else principal.owner
    filters = Filters(owner=owner, status=status or None, kind=kind or None)
    try:
        async with pool.connection() as conn:
            jobs, next_cursor = await page(conn, filters, limit, cursor)
    except BadCursor:
        jobs, next_cursor = [], None
    here: dict[str, Any] = {"status": status or None, "kind": kind or None, "limit": limit}
    return {
        "jobs": [document(job_id, state) for job_id, state in jobs],
        "next_url": jobs_url("/jobs", **here, cursor=next_cursor) if next_cursor else None,
        "first_url": jobs_url("/jobs", **here) if cursor else None,
        "poll_url": jobs_url("/jobs/rows", **here, cursor=cursor),
        "status": status or None,
        "kind": kind or "",
        "limit": limit,
        "statuses": STATUSES,
        "auditor": owner is None,  # the rows show whose each job is
    }


async def found(pool: AsyncConnectionPool, principal: Principal, query: search.IdRange) -> dict[str, Any]:
    """The viewer's jobs whose id starts with the prefix (every owner's for an auditor)."""
    owner = None if Scope.AUDIT_READ in principal.scopes else principal.owner
    async with pool.connection() as conn:
        rows = await in_id_range(conn, query.low, query.high, owner, SEARCH_LIMIT + 1)
    return {
        "jobs": [document(job_id, state) for job_id, state in rows[:SEARCH_LIMIT]],
        "more_found": len(rows) > SEARCH_LIMIT,
        "auditor": owner is None,
    }
