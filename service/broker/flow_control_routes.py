"""Flow-control keys (§9): list, get, pause, resume, pin, unpin, reset; the global parallelism.

The paths and fields are those the SDK 3.4.0 reads (`client.flow_control`); listing, which
the SDK lacks, answers an array of the same objects, as the API reference shows.
"""

import time
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from service.broker.errors import BadRequest, NotFound
from service.broker.flow_control import FlowKey, parse_period
from service.broker.gate import Gate
from service.broker.views import whole_seconds

PREFIX = "/v2/flowControl"


@get(PREFIX)
async def list_flow_control(request: Request) -> list[dict]:
    gate = _gate(request)
    search = request.query_params.get("search") or ""
    return [flow_key_view(gate, key) for name, key in sorted(gate.flow_keys.items()) if search in name]


@get(PREFIX + "/{key:str}")
async def get_flow_control(request: Request, key: FromPath[str]) -> dict:
    return flow_key_view(_gate(request), _existing(request, key))


@post(PREFIX + "/{key:str}/{action:str}", status_code=200)
async def act_on_flow_control(request: Request, key: FromPath[str], action: FromPath[str]) -> Response:
    gate, query, now = _gate(request), request.query_params, time.time()
    flow = gate.flow_key(key) if action in ("pause", "pin") else _existing(request, key)
    if action in ("pause", "resume"):
        flow.paused = action == "pause"
    elif action == "pin":
        _pin(flow, query)
    elif action == "unpin":
        everything = "parallelism" not in query and "rate" not in query
        flow.pinned_parallelism &= not (everything or _flag(query.get("parallelism")))
        flow.pinned_rate &= not (everything or _flag(query.get("rate")))
    elif action == "resetRate":
        flow.reset_rate(now)
    elif action == "reset":
        flow.reset_rate(now)
        flow.active = 0
    else:
        raise NotFound(f"no such flow-control action: {action}")
    gate.changed()
    return Response(b"", status_code=200)


@get("/v2/globalParallelism")
async def global_parallelism(request: Request) -> dict:
    gate = _gate(request)
    return {"parallelismMax": gate.global_parallelism, "parallelismCount": gate.active}


def flow_key_view(gate: Gate, flow: FlowKey) -> dict[str, Any]:
    rate_count = flow.rate_count if time.time() < flow.period_start + flow.period_s else 0
    view = {
        "flowControlKey": flow.key,
        "waitListSize": gate.waitlist_size(flow.key),
        "parallelismMax": flow.parallelism,
        "parallelismCount": flow.active,
        "rateMax": flow.rate,
        "rateCount": rate_count,
        "ratePeriod": whole_seconds(flow.period_s),
        "ratePeriodStart": int(flow.period_start),
        "isPaused": flow.paused,
        "isPinnedParallelism": flow.pinned_parallelism,
        "isPinnedRate": flow.pinned_rate,
    }
    return {name: value for name, value in view.items() if value is not None}


def _pin(flow: FlowKey, query: Any) -> None:
    if not any(name in query for name in ("parallelism", "rate", "period")):
        raise BadRequest("pin needs parallelism, rate or period")
    if "parallelism" in query:
        flow.parallelism, flow.pinned_parallelism = _positive(query["parallelism"], "parallelism"), True
    if "rate" in query:
        flow.rate, flow.pinned_rate = _positive(query["rate"], "rate"), True
    if "period" in query:
        flow.period_s, flow.pinned_rate = parse_period(query["period"]), True


def _positive(text: str, name: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise BadRequest(f"invalid {name}: {text}") from None
    if number < 1:
        raise BadRequest(f"{name} must be at least 1")
    return number


def _flag(text: str | None) -> bool:
    return (text or "").strip().lower() == "true"


def _gate(request: Request) -> Gate:
    return request.app.state.broker.store.gate


def _existing(request: Request, key: str) -> FlowKey:
    flow = _gate(request).flow_keys.get(key)
    if flow is None:
        raise NotFound(f"flow control key {key} not found")
    return flow
