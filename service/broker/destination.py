"""The destination URL of publish and schedule requests, rebuilt from the raw request line.

The SDKs put the destination unencoded into the path, so its own query string becomes the
request's (protocol §2.1). Litestar folds `//` in `scope["path"]`, hence `raw_path`; the
TestClient leaves `?query` in `raw_path`, uvicorn does not, hence the split and
`query_string`. Our `qstash_token` and lowercase `upstash-*` config parameters are taken
out; everything else stays byte for byte.
"""

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

from service.broker.errors import BadRequest

INVALID_SCHEME = "invalid destination url: endpoint has invalid scheme, add http:// or https://"


def destination(scope: Mapping[str, Any], prefix: str) -> tuple[str, dict[str, str]]:
    """(destination URL, `upstash-*` query parameters), or BadRequest for a non-URL destination."""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    path = raw_path.decode("utf-8", "replace").split("?", 1)[0]
    if not path.startswith(prefix):
        raise BadRequest(INVALID_SCHEME)
    target = path[len(prefix) :]
    if not target.startswith(("http://", "https://")) or len(target) <= len("https://"):
        raise BadRequest(INVALID_SCHEME)
    kept, config = _split_query(scope.get("query_string", b"").decode("utf-8", "replace"))
    return (f"{target}?{kept}" if kept else target), config


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
