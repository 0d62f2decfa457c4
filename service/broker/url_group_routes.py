"""URL groups, `/v2/topics` (§9): upsert and remove endpoints, read, list, delete.

A group exists while it has endpoints: upserting creates it, removing its last endpoint
deletes it (openapi). Publishing to its name sends one message per endpoint (routing.py).
"""

import time

import msgspec
from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromPath

from service.broker.destination import is_group_name, is_url
from service.broker.errors import BadRequest, NotFound
from service.broker.records import Endpoint, UrlGroup
from service.broker.store import Store
from service.broker.views import url_group_view


class _EndpointBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: str | None = None
    name: str | None = None


class _EndpointsBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    endpoints: list[_EndpointBody]


@post("/v2/topics/{name:str}/endpoints", status_code=200)
async def upsert_endpoints(request: Request, name: FromPath[str]) -> Response:
    if not is_group_name(name):
        raise BadRequest(f"invalid url group name {name!r}: only alphanumerics, '-', '_' and '.' are allowed")
    endpoints = _endpoints(await request.body())
    for endpoint in endpoints:
        if endpoint.url is None or not is_url(endpoint.url):
            raise BadRequest(f"invalid endpoint url {endpoint.url!r}: add http:// or https://")
    store: Store = request.app.state.broker.store
    now_ms = int(time.time() * 1000)
    group = store.url_groups.setdefault(name, UrlGroup(name=name, created_at_ms=now_ms, updated_at_ms=now_ms))
    for endpoint in endpoints:
        _upsert(group, Endpoint(url=endpoint.url or "", name=endpoint.name))
    group.updated_at_ms = now_ms
    return Response(b"", status_code=200)


@delete("/v2/topics/{name:str}/endpoints", status_code=200)
async def remove_endpoints(request: Request, name: FromPath[str]) -> Response:
    endpoints = _endpoints(await request.body())
    if any(endpoint.url is None and endpoint.name is None for endpoint in endpoints):
        raise BadRequest("every endpoint to remove needs a url or a name")
    store: Store = request.app.state.broker.store
    group = _group(store, name)
    group.endpoints = [
        kept
        for kept in group.endpoints
        if not any(kept.url == gone.url or (gone.name is not None and kept.name == gone.name) for gone in endpoints)
    ]
    group.updated_at_ms = int(time.time() * 1000)
    if not group.endpoints:
        del store.url_groups[name]
    return Response(b"", status_code=200)


@get("/v2/topics")
async def list_url_groups(request: Request) -> list[dict]:
    return [url_group_view(group) for group in request.app.state.broker.store.url_groups.values()]


@get("/v2/topics/{name:str}")
async def get_url_group(request: Request, name: FromPath[str]) -> dict:
    return url_group_view(_group(request.app.state.broker.store, name))


@delete("/v2/topics/{name:str}", status_code=200)
async def delete_url_group(request: Request, name: FromPath[str]) -> Response:
    if request.app.state.broker.store.url_groups.pop(name, None) is None:
        raise NotFound(f"url group {name} not found")
    return Response(b"", status_code=200)


@patch("/v2/topics/{name:str}", status_code=400)
async def patch_url_group(name: FromPath[str]) -> Response:
    raise BadRequest("default headers for URL groups (PATCH /v2/topics/{name}) are not supported by the local broker")


def _upsert(group: UrlGroup, endpoint: Endpoint) -> None:
    """Same URL: its name is updated; same name, other URL: its URL is; else a new endpoint."""
    for index, existing in enumerate(group.endpoints):
        if existing.url == endpoint.url or (endpoint.name is not None and existing.name == endpoint.name):
            group.endpoints[index] = endpoint
            return
    group.endpoints.append(endpoint)


def _endpoints(body: bytes) -> list[_EndpointBody]:
    try:
        endpoints = msgspec.json.decode(body, type=_EndpointsBody).endpoints
    except msgspec.DecodeError as error:
        raise BadRequest(f'invalid body: {error}; expected {{"endpoints": [{{"url": ..., "name": ...}}]}}') from None
    if not endpoints:
        raise BadRequest("no endpoints given")
    return endpoints


def _group(store: Store, name: str) -> UrlGroup:
    group = store.url_groups.get(name)
    if group is None:
        raise NotFound(f"url group {name} not found")
    return group
