"""Settings come from the environment only, so one process image serves every deployment."""

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec


class SettingsError(Exception):
    """The environment describes a configuration we cannot run with."""


_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Where jobtrail keeps its state; `database_url=None` means an embedded PostgreSQL."""

    database_url: str | None = None
    data_dir: Path = Path(".jobtrail")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        return cls(
            database_url=_database_url(environ.get("DATABASE_URL", "")),
            data_dir=_data_dir(environ.get("JOBTRAIL_DATA_DIR", "")),
        )


def _database_url(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if not value.startswith(_POSTGRES_SCHEMES):
        raise SettingsError(
            "DATABASE_URL must start with postgresql:// (or be unset for an embedded PostgreSQL)"
        )
    return value


def _data_dir(value: str) -> Path:
    path = Path(value.strip() or ".jobtrail")
    if path.exists() and not path.is_dir():
        raise SettingsError(f"JOBTRAIL_DATA_DIR is not a directory: {path}")
    return path
