"""QStash's reports on notifications: a callback after every attempt, a failure callback
when retries run out (the message is then in QStash's DLQ).

Both are signed deliveries like any other (service/api/qstash.py). The report names the
notification by the message id QStash gave its publish (`sourceMessageId`). Recording is
idempotent (attempts only grow; the first success or failure stays), so a repeated
report needs no inbox entry. A report can outrun the relay's record of the message id
it got (QStash may deliver and report before the relay's commit): an unknown id is
answered 503, so QStash reports again a moment later.
"""

from typing import Any

import msgspec
from litestar import Controller, Request, post

from service.api.dependencies import CurrentSettings, Pool
from service.api.problems import ProblemError, problem_responses
from service.api.qstash import _decode, _verified_body
from service.store import notifications


class AttemptReport(msgspec.Struct, frozen=True):
    """The fields of QStash's (failure) callback body used here (it sends more)."""

    sourceMessageId: str
    status: int | None = None
    retried: int = 0
    dlqId: str | None = None


class NotificationCallbacks(Controller):
    path = "/qstash"
    tags = ["qstash"]

    @post(
        "/notified",
        status_code=200,
        summary="QStash reports one attempt to deliver a notification (callback)",
        responses=problem_responses(401, 489, 503),
    )
    async def notified(self, request: Request, pool: Pool, settings: CurrentSettings) -> dict[str, Any]:
        body, _ = await _verified_body(request, settings, "/qstash/notified")
        report = _decode(body, AttemptReport)
        async with pool.connection() as conn:
            known = await notifications.record_attempt(
                conn, report.sourceMessageId, report.retried + 1, report.status or 0
            )
        return _recorded(known)

    @post(
        "/notify-failed",
        status_code=200,
        summary="QStash gave up on a notification (failure callback; it is in the DLQ)",
        responses=problem_responses(401, 489, 503),
    )
    async def notify_failed(self, request: Request, pool: Pool, settings: CurrentSettings) -> dict[str, Any]:
        body, _ = await _verified_body(request, settings, "/qstash/notify-failed")
        report = _decode(body, AttemptReport)
        async with pool.connection() as conn:
            known = await notifications.record_failure(
                conn, report.sourceMessageId, report.retried + 1, report.status, report.dlqId
            )
        return _recorded(known)


def _recorded(known: bool) -> dict[str, Any]:
    if not known:
        raise ProblemError(503, "no notification was published under this message id (yet)")
    return {"outcome": "recorded"}
