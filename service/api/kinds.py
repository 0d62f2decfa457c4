"""GET /v1/kinds: what can be created, with its limits, flow control and params schema."""

from typing import Any

import msgspec
from litestar import get

from service.api.auth import BEARER
from service.api.dependencies import Caller, Kinds
from service.api.problems import problem_responses
from service.jobs.kinds import params_schema


class KindDocument(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str
    max_runs: int
    batch_size: int
    retries: int
    batch_timeout_s: float
    deadline_s: float | None
    max_requeues: int
    delay_s: float
    backoff_factor: float
    max_delay_s: float
    parallelism: int | None
    rate: int | None
    period_s: int
    flow_scope: str
    params_schema: dict[str, Any]


@get(
    "/v1/kinds",
    tags=["kinds"],
    summary="The registered job kinds",
    security=BEARER,
    responses=problem_responses(401),
)
async def list_kinds(principal: Caller, kinds: Kinds) -> list[KindDocument]:
    return [
        KindDocument(
            name=kind.name,
            params_schema=params_schema(kind),
            **{
                field: getattr(kind.config, field)
                for field in KindDocument.__struct_fields__
                if field not in ("name", "params_schema")
            },
        )
        for kind in sorted(kinds.values(), key=lambda k: k.name)
    ]
