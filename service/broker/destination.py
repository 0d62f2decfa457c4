"""The destination URL of publish and schedule requests, rebuilt from the raw request line.

The SDKs put the destination unencoded into the path, so its own query string becomes the
request's (protocol §2.1). Litestar folds `//` in `scope["path"]`, hence `raw_path`; the
TestClient leaves `?query` in `raw_path`, uvicorn does not, hence the split and
`query_string`. Our `qstash_token` and lowercase `upstash-*` config parameters are taken
out; everything else stays byte for byte.
"""

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

from service.broker.errors import BadRequest

INVALID_SCHEME = "invalid destination url: endpoint has invalid scheme, add http:// or https://"
GROUP_NAME = re.compile(r"[A-Za-z0-9._-]+")  # URL group names (protocol §2.1)


def destination(scope: Mapping[str, Any], prefix: str, *, url_groups: bool = False) -> tuple[str, dict[str, str]]:
    """(destination, `upstash-*` query parameters): a URL, or with `url_groups` also a URL
    group's name; BadRequest for anything else."""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    path = raw_path.decode("utf-8", "replace").split("?", 1)[0]
    if not path.startswith(prefix):
        raise BadRequest(INVALID_SCHEME)
    target = path[len(prefix) :]
    kept, config = _split_query(scope.get("query_string", b"").decode("utf-8", "replace"))
    if url_groups and is_group_name(target):
        return target, config
    check_url(target)
    return (f"{target}?{kept}" if kept else target), config


def is_url(target: str) -> bool:
    return target.startswith(("http://", "https://")) and len(target) > len("https://")


def is_group_name(target: str) -> bool:
    return GROUP_NAME.fullmatch(target) is not None


def check_url(target: str) -> None:
    if not is_url(target):
        raise BadRequest(INVALID_SCHEME)


def target_after(scope: Mapping[str, Any], prefix: str) -> str:
    """The raw path after `prefix`, for routes that share it with a destination."""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    path = raw_path.decode("utf-8", "replace").split("?", 1)[0]
    return path[len(prefix) :] if path.startswith(prefix) else ""


def _split_query(query: str) -> tuple[str, dict[str, str]]:
    kept: list[str] = []
    config: dict[str, str] = {}
    for item in query.split("&") if query else ():
        name, _, value = item.partition("=")
        decoded = unquote_plus(name)
        if decoded == "qstash_token":
            continue
        if decoded.startswith("upstash-"):
            config[decoded] = unquote_plus(value)
            continue
        kept.append(item)
    return "&".join(kept), config
