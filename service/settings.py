"""Settings come from the environment only, so one process image serves every deployment.

msgspec converts the raw strings (strict=False parses numbers) and its error names the
offending variable, so a bad value is one clear line at start.
"""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import msgspec


class SettingsError(Exception):
    """The environment describes a configuration we cannot run with."""


Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
DatabaseUrl = Annotated[str, msgspec.Meta(pattern=r"^postgres(ql)?://")]
HttpUrl = Annotated[str, msgspec.Meta(pattern=r"^https?://[^/\s]+(/\S*)?$")]

# Field name -> environment variable.
VARIABLES = {
    "database_url": "DATABASE_URL",
    "data_dir": "JOBTRAIL_DATA_DIR",
    "host": "JOBTRAIL_HOST",
    "port": "JOBTRAIL_PORT",
    "public_url": "JOBTRAIL_PUBLIC_URL",
}


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Where jobtrail keeps its state and listens; `database_url=None` means embedded."""

    database_url: DatabaseUrl | None = None
    data_dir: Path = Path(".jobtrail")
    host: str = "127.0.0.1"
    port: Port = 8000
    public_url: HttpUrl = "http://127.0.0.1:8000"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        raw = {
            field: environ[variable].strip()
            for field, variable in VARIABLES.items()
            if environ.get(variable, "").strip()
        }
        try:
            settings = msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as error:
            raise SettingsError(_explain(error)) from None
        if settings.data_dir.exists() and not settings.data_dir.is_dir():
            raise SettingsError(f"JOBTRAIL_DATA_DIR is not a directory: {settings.data_dir}")
        return settings


def _explain(error: msgspec.ValidationError) -> str:
    message = str(error)
    for field, variable in VARIABLES.items():
        message = message.replace(f"`$.{field}`", variable)
    hints = {
        "DATABASE_URL": " (a postgresql:// URL, or unset for an embedded PostgreSQL)",
        "JOBTRAIL_PUBLIC_URL": " (an http(s):// base URL)",
    }
    return message + next((hint for variable, hint in hints.items() if variable in message), "")
