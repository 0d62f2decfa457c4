"""What both clients send with every request, and how they read an answer that is not a success."""

from __future__ import annotations

from typing import Any

import httpx

from jobtrail.client.calls import Call
from jobtrail.client.errors import ProblemError, problem_error

USER_AGENT = "jobtrail-client/0.1"
# A watch stream writes at least a keep-alive every JOBTRAIL_SSE_KEEPALIVE_S (15 s by
# default); a read that waits longer than this means the connection is gone.
STREAM_READ_S = 60.0


def http_options(base_url: str, api_key: str, timeout: float, headers: dict[str, str] | None) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "headers": {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT, **(headers or {})},
        "timeout": timeout,
    }


def request_options(call: Call[Any]) -> dict[str, Any]:
    headers = dict(call.headers)
    if call.body is not None:
        headers["Content-Type"] = "application/json"
    return {"params": call.params, "content": call.body, "headers": headers}


def stream_timeout(timeout: float, read_s: float | None) -> httpx.Timeout:
    return httpx.Timeout(timeout, read=read_s if read_s is not None else STREAM_READ_S)


def refusal(response: httpx.Response) -> ProblemError:
    """The typed exception for an answer that is not a success (its body already read)."""
    headers = {name.lower(): value for name, value in response.headers.items()}
    return problem_error(response.status_code, response.reason_phrase, response.content, headers)


def stream_ended() -> httpx.ReadError:
    """A watch stream that closed before the job was final: a dropped connection, to resume."""
    return httpx.ReadError("the stream ended before the job did")
