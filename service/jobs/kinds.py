"""The registry of job kinds: each a name, its limits, its params schema and its handler.

Built-in kinds are listed here; others come from the `jobtrail.kinds` entry point
group, each entry point naming a `Kind`. A handler runs one batch:
`async run_batch(job: BatchContext, cursor) -> Batch`. It must be idempotent per
(job, run): a delivery can be retried after the batch ran but before it was recorded.
"""

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from importlib.metadata import entry_points
from typing import Any

import msgspec

from domain.kinds import KindConfig
from service.jobs import demo_count
from service.jobs.batch import Batch, BatchContext, PermanentError

__all__ = ["Batch", "BatchContext", "Kind", "PermanentError", "load_kinds", "lookup"]

ENTRY_POINT_GROUP = "jobtrail.kinds"

RunBatch = Callable[[BatchContext, str | None], Awaitable[Batch]]


class Kind(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    config: KindConfig
    params: type[msgspec.Struct]
    run_batch: RunBatch


class UnknownKind(Exception):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name, self.known = name, known
        super().__init__(f"unknown kind '{name}'; known kinds: {', '.join(known)}")


class InvalidParams(Exception):
    """Params that do not match the kind's schema; the message names the field."""


BUILT_IN = [
    Kind(
        name=demo_count.NAME,
        config=demo_count.CONFIG,
        params=demo_count.DemoCountParams,
        run_batch=demo_count.run_batch,
    )
]


def load_kinds() -> dict[str, Kind]:
    kinds = {kind.name: kind for kind in BUILT_IN}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        kind = entry.load()
        kinds[kind.name] = kind
    return kinds


def lookup(kinds: Mapping[str, Kind], name: str) -> Kind:
    if name not in kinds:
        raise UnknownKind(name, sorted(kinds))
    return kinds[name]


def requeue_deadline(kinds: Mapping[str, Kind], kind: str, at: datetime) -> datetime | None:
    """A requeued job gets its kind's whole deadline again, counted from the requeue."""
    config = kinds[kind].config if kind in kinds else None
    return at + timedelta(seconds=config.deadline_s) if config and config.deadline_s else None


def validate_params(kind: Kind, params: dict[str, Any]) -> dict[str, Any]:
    """The params as the kind's schema accepts them (defaults filled in)."""
    try:
        return msgspec.to_builtins(msgspec.convert(params, kind.params))
    except msgspec.ValidationError as error:
        raise InvalidParams(f"invalid params for kind '{kind.name}': {error}".replace("`$.", "`params.")) from None


def params_schema(kind: Kind) -> dict[str, Any]:
    (schema,), components = msgspec.json.schema_components([kind.params], ref_template="#/$defs/{name}")
    return {**components[kind.params.__name__], "title": kind.name}
