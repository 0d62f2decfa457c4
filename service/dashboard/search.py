"""Search by job id: a whole id, or the first hex digits of one.

A prefix names the range of ids that start with it (the rest of the digits all 0 up to
all f), which PostgreSQL answers by walking the primary key. Eight digits at least:
fewer would match a sixteenth of a busy service's jobs or more, and the ids a person
copies from a page or a log line are longer anyway.
"""

import string
import uuid

import msgspec

MIN_PREFIX = 8
HEX = frozenset(string.hexdigits.lower())


class WholeId(msgspec.Struct, frozen=True):
    job_id: uuid.UUID


class IdRange(msgspec.Struct, frozen=True):
    prefix: str
    low: uuid.UUID
    high: uuid.UUID


class Unsearchable(msgspec.Struct, frozen=True):
    reason: str


def parse(text: str) -> WholeId | IdRange | Unsearchable:
    digits = text.strip().lower().replace("-", "")
    if not digits or not set(digits) <= HEX:
        return Unsearchable("search by job id: hex digits (0-9, a-f), dashes allowed")
    if len(digits) < MIN_PREFIX:
        return Unsearchable(f"type at least {MIN_PREFIX} hex digits of a job id")
    if len(digits) > 32:
        return Unsearchable("a job id has 32 hex digits")
    if len(digits) == 32:
        return WholeId(uuid.UUID(digits))
    pad = 32 - len(digits)
    return IdRange(digits, uuid.UUID(digits + "0" * pad), uuid.UUID(digits + "f" * pad))
