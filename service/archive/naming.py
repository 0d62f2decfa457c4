"""An archived history's file name: deterministic, so a run cut short rewrites the same file.

`YYYY/MM/DD/<owner>/<job id>.ndjson`, the date the job finished (UTC). A job archived
again after a restore gets `<job id>.<n>.ndjson` for its n-th archive, so the first
file, which an older tombstone names, is never overwritten.

An owner is any text, so it is escaped into one safe path component: ASCII letters,
digits, `-` and `_` stay; every other byte is `%XX` (so `%` itself is escaped and two
owners never share a directory), the empty owner is `%00` (a NUL cannot be stored, so
no owner escapes to it), and an escape too long for a file name is cut and ends with a
`~` (never otherwise produced) and the owner's SHA-256.
"""

import hashlib
from datetime import UTC, datetime
from uuid import UUID

MAX_COMPONENT = 200  # bytes; file systems allow 255 per name


def owner_component(owner: str) -> str:
    if not owner:
        return "%00"
    escaped = "".join(
        char if char.isascii() and (char.isalnum() or char in "-_") else "".join(f"%{b:02X}" for b in char.encode())
        for char in owner
    )
    if len(escaped) <= MAX_COMPONENT:
        return escaped
    return escaped[: MAX_COMPONENT - 65] + "~" + hashlib.sha256(owner.encode()).hexdigest()


def archive_name(stream_id: UUID, owner: str, finished_at: datetime, archived_before: int = 0) -> str:
    day = finished_at.astimezone(UTC).strftime("%Y/%m/%d")
    suffix = f".{archived_before + 1}" if archived_before else ""
    return f"{day}/{owner_component(owner)}/{stream_id}{suffix}.ndjson"
