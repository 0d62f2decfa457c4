"""A job named on the command line by its whole id or, where that is unambiguous, its start.

Short ids are resolved on the database; over HTTP a command needs the whole id (the API
names a job only by it).
"""

import argparse
import string
from dataclasses import dataclass
from uuid import UUID

from psycopg import AsyncConnection

from domain.errors import DomainError, JobNotFound
from service.cli.remote import RemoteFailure
from service.store.job_status import starting_with

SHORTEST = 4


@dataclass(frozen=True)
class Prefix:
    digits: str

    def __str__(self) -> str:
        return self.digits


class AmbiguousPrefix(DomainError):
    def __init__(self, prefix: Prefix, matches: int, more: bool) -> None:
        super().__init__(
            f"'{prefix}' is the start of {'more than ' if more else ''}{matches} job ids; "
            "give more of the id (jobtrail jobs list shows them)",
        )


def job_id_or_prefix(text: str) -> UUID | Prefix:
    """An argument type: a job's id, or at least its first 4 hex digits."""
    try:
        return UUID(text)
    except ValueError:
        pass
    digits = text.replace("-", "").lower()
    if len(digits) < SHORTEST or len(digits) >= 32 or not set(digits) <= set(string.hexdigits.lower()):
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a job id: give the whole id or its first {SHORTEST} or more hex digits"
        )
    return Prefix(digits)


async def resolve(conn: AsyncConnection, job: UUID | Prefix) -> UUID:
    """The one job `job` names; not found and ambiguous are one-line errors."""
    if isinstance(job, UUID):
        return job
    found = await starting_with(conn, job.digits, limit=11)
    if not found:
        raise JobNotFound()
    if len(found) > 1:
        raise AmbiguousPrefix(job, min(len(found), 10), more=len(found) > 10)
    return found[0]


def whole(job: UUID | Prefix) -> UUID:
    """The whole id a command over HTTP needs."""
    if isinstance(job, Prefix):
        raise RemoteFailure(f"'{job}' is the start of an id; over HTTP give the whole job id")
    return job
