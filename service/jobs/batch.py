"""What a kind's handler is given and must return."""

from typing import Any
from uuid import UUID

import msgspec


class BatchContext(msgspec.Struct, frozen=True, kw_only=True):
    job_id: UUID
    kind: str
    run: int
    attempt: int  # 0 on QStash's first try of this run, then 1, 2, ...
    params: dict[str, Any]
    batch_size: int


class Batch(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Any]
    next_cursor: str | None
    has_more: bool
    # What the handler knows of the work, for the job's progress: every item the source
    # holds, or those left after this batch; an estimate will do. Neither: no percentage.
    total: int | None = None
    remaining: int | None = None


class PermanentError(Exception):
    """The batch can never succeed (e.g. invalid params): fail the job now, do not retry."""
