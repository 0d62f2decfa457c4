"""An archived job as its readers meet it: gone, with the tombstone that says what it was.

The API answers 410 Gone with the tombstone in the problem, the dashboard a page that
shows it; both only to a caller who could have seen the job (another owner gets the
answer of a job that never existed).
"""

from datetime import datetime
from uuid import UUID

import msgspec

from service.store.tombstones import Tombstone


class TombstoneDocument(msgspec.Struct, frozen=True, kw_only=True):
    job_id: UUID
    owner: str
    kind: str
    status: str  # the job's final status
    events: int
    first_position: int
    last_position: int
    chain_head: str  # hex: the hash of the job's last event
    archive_name: str
    archive_sha256: str  # hex, of the archive file's bytes
    finished_at: datetime | None
    archived_at: datetime | None


class JobArchived(Exception):
    """The job's history was archived and removed from the database."""

    def __init__(self, tombstone: Tombstone) -> None:
        super().__init__(f"job {tombstone.stream_id} was archived")
        self.tombstone = tombstone


def tombstone_document(stone: Tombstone) -> TombstoneDocument:
    return TombstoneDocument(
        job_id=stone.stream_id,
        owner=stone.owner,
        kind=stone.kind,
        status=stone.status,
        events=stone.events,
        first_position=stone.first_position,
        last_position=stone.last_position,
        chain_head=stone.chain_head.hex(),
        archive_name=stone.archive_name,
        archive_sha256=stone.archive_sha256.hex(),
        finished_at=stone.finished_at,
        archived_at=stone.archived_at,
    )
