"""What a call can raise: every problem document the service answers with becomes a typed exception.

`ProblemError` carries the document's standard members (`status`, `title`, `detail`,
`type`, `instance`) and every extension member in `extensions`; the subclasses add the
ones their status is known to carry (`errors` on an invalid request, `state` on a
conflict, `retry_after` on 429 and 503). An answer that is not a problem document (a
proxy's HTML page) still raises by its status, with the start of its body as detail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import msgspec

_STANDARD = ("type", "title", "status", "detail", "instance")
_SHOWN_BODY = 300  # characters of a body that is no problem document


class JobtrailError(Exception):
    """Anything this client raises on purpose."""


class TransportError(JobtrailError):
    """The service could not be reached (or stopped answering), after every retry the budget allowed."""


class WaitTimeout(JobtrailError, TimeoutError):
    """`wait` gave up before the job ended; `job` is its last known status, if any arrived."""

    def __init__(self, message: str, job: Any = None) -> None:
        super().__init__(message)
        self.job = job


class ProblemError(JobtrailError):
    """The service refused the call with an RFC 9457 problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        type: str = "about:blank",
        instance: str | None = None,
        extensions: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")
        self.status, self.title, self.detail, self.type, self.instance = status, title, detail, type, instance
        self.extensions = extensions or {}
        self.headers = headers or {}


class InvalidRequest(ProblemError):
    """400 or 422: the request can never succeed as it is; `errors` names each field at fault."""

    @property
    def errors(self) -> list[FieldError]:
        found = self.extensions.get("errors") or []
        return [FieldError(key=str(e.get("key", "")), message=str(e.get("message", ""))) for e in found]

    @property
    def known_kinds(self) -> list[str] | None:
        return self.extensions.get("known_kinds")


class Unauthorized(ProblemError):
    """401: no key, or an unknown or revoked one."""


class Forbidden(ProblemError):
    """403: the key lacks the scope the call needs (the detail names it)."""


class NotFound(ProblemError):
    """404: no such job or schedule, or one this key may not see."""


class Conflict(ProblemError):
    """409: the status forbids the move (`state` names it), or an Idempotency-Key met another body."""

    @property
    def state(self) -> str | None:
        return self.extensions.get("state")


class Tombstone(msgspec.Struct, frozen=True, kw_only=True):
    """What an archived job was and where its history went (docs/retention.md)."""

    job_id: str
    owner: str
    kind: str
    status: str  # the job's final status
    events: int
    first_position: int
    last_position: int
    chain_head: str  # hex
    archive_name: str
    archive_sha256: str  # hex, of the archive file's bytes
    finished_at: datetime | None = None
    archived_at: datetime | None = None


class Gone(ProblemError):
    """410: the job was archived; `tombstone` says what it was and where its history went."""

    @property
    def tombstone(self) -> Tombstone | None:
        found = self.extensions.get("tombstone")
        return msgspec.convert(found, Tombstone) if isinstance(found, dict) else None


class PayloadTooLarge(ProblemError):
    """413: the body is larger than the service accepts."""


class UnsupportedMediaType(ProblemError):
    """415: the body was not JSON."""


class RetryLater(ProblemError):
    """The service asks to be asked again; `retry_after` is how long it suggests (seconds), if it said."""

    @property
    def retry_after(self) -> float | None:
        return retry_after_s(self.headers.get("retry-after"))


class RateLimited(RetryLater):
    """429: too many requests."""


class ServiceUnavailable(RetryLater):
    """503: the database is unavailable, or the job changed too often to decide on."""


class ServerError(ProblemError):
    """Any other 5xx: the service failed unexpectedly (it logged why)."""


class FieldError(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    message: str


_BY_STATUS: dict[int, type[ProblemError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: InvalidRequest,
    429: RateLimited,
    503: ServiceUnavailable,
}


def problem_error(status: int, reason: str, body: bytes, headers: dict[str, str]) -> ProblemError:
    """The exception for an answer of `status` whose body is `body` (a problem document or not)."""
    error_type = _BY_STATUS.get(status) or (ServerError if status >= 500 else ProblemError)
    try:
        document = msgspec.json.decode(body) if body else {}
    except msgspec.DecodeError:
        document = None
    if not isinstance(document, dict):
        text = body.decode(errors="replace").strip()[:_SHOWN_BODY]
        return error_type(status, reason, text, headers=headers)
    return error_type(
        status,
        str(document.get("title") or reason),
        str(document.get("detail") or ""),
        type=str(document.get("type") or "about:blank"),
        instance=document.get("instance"),
        extensions={k: v for k, v in document.items() if k not in _STANDARD},
        headers=headers,
    )


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header in seconds: either form RFC 9110 allows; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
