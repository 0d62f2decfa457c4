"""Where archived histories go: a small interface, and the directory that implements it.

A store keeps whole files under names the archiver chooses (`2026/12/04/<owner>/<job>.ndjson`)
and must make a write all-or-nothing: a reader sees the whole file or no file, never a
part, even after a crash. Another store (an S3-compatible bucket, whose PUT is atomic)
needs only these three methods.
"""

import asyncio
import os
import secrets
from pathlib import Path, PurePosixPath
from typing import Protocol


class ArchiveStore(Protocol):
    async def write(self, name: str, data: bytes) -> None:
        """Store `data` under `name`, atomically and durably, replacing any file of that name."""

    async def read(self, name: str) -> bytes | None:
        """The file's bytes, or None when the store no longer has it."""

    async def delete(self, name: str) -> None:
        """Remove the file if present (used only to undo a restore's copy, never by retention)."""


class InvalidArchiveName(ValueError):
    """A name that would escape the store's root or is not a plain relative path."""


def _checked(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or any(part in ("", ".", "..") for part in path.parts) or "\\" in name:
        raise InvalidArchiveName(f"not a plain relative archive name: {name!r}")
    return path


class DirectoryStore:
    """Files under one root directory. A write goes to a temporary name beside its target,
    is flushed to disk, renamed over the target (atomic on POSIX) and the directory is
    flushed too, so the rename itself survives a power cut."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, name: str) -> Path:
        return self.root.joinpath(*_checked(name).parts)

    async def write(self, name: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, self.path_of(name), data)

    async def read(self, name: str) -> bytes | None:
        try:
            return await asyncio.to_thread(self.path_of(name).read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, name: str) -> None:
        await asyncio.to_thread(self.path_of(name).unlink, missing_ok=True)

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            with open(temporary, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
