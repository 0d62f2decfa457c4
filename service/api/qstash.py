"""QStash webhooks: every one verifies `Upstash-Signature` on the raw body before reading it.

Answers follow QStash's rules: 2xx for success, duplicates and no-ops; 401 for a bad
signature; 489 with `Upstash-NonRetryable-Error: true` for a body that can never
succeed; 5xx only when a retry may help.
"""

import base64
import logging
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, post
from litestar.params import FromPath

from service.api.dependencies import CommitObservers, CurrentSettings, Pool
from service.api.json_request import NESTED_TOO_DEEPLY
from service.api.problems import ProblemError, problem_responses
from service.archive.policy import retention_policy
from service.archive.store import DirectoryStore
from service.audit.signing_key import load_signer
from service.health.metrics import delivery_outcome
from service.qstash import sweeper
from service.qstash.delivery import Answer, deliver_run, fail_after_retries
from service.qstash.self_probe import NONCE
from service.qstash.signature import InvalidSignature, verify_signature
from service.schedules.fire import fire
from service.store import delivery_probes

logger = logging.getLogger("jobtrail.qstash")

# QStash message ids are short (`msg_` and ~60 characters); the inbox's primary key index
# refuses a row past ~2.7 KB. 256 characters leave QStash four times its room and stay
# far below that, even at the worst UTF-8 width.
MAX_MESSAGE_ID_LENGTH = 256


class RunMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    job_id: UUID
    run: Annotated[int, msgspec.Meta(ge=1)]


class ProbeMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nonce: Annotated[str, msgspec.Meta(pattern=NONCE.pattern)]


class FailureCallback(msgspec.Struct, frozen=True):
    """The part of QStash's failure-callback body we use (it sends more)."""

    sourceBody: str = ""
    dlqId: str | None = None
    status: int | None = None
    sourceMessageId: str | None = None


async def _verified_body(request: Request, settings: CurrentSettings, route: str) -> tuple[bytes, str | None]:
    """The body QStash signed, and its token's `jti` (claimed by the delivery, see
    service/qstash/delivery.py)."""
    body = await request.body()
    url = f"{settings.base_url}{route}"
    try:
        jti = verify_signature(request.headers.get("upstash-signature"), body, url, settings.signing_keys)
    except InvalidSignature as error:
        request.app.state.metrics.delivered("unauthorized")
        raise ProblemError(401, f"invalid QStash signature: {error}") from None
    _refuse_oversized_message_id(request)
    return body, jti


def _refuse_oversized_message_id(request: Request) -> None:
    """A signed delivery whose id the inbox could never store: 489 stops QStash retrying it.

    Checked after the signature, so any caller QStash did not sign gets the same 401
    whatever its headers; only a real delivery gets told to stop retrying.
    """
    if len(request.headers.get("upstash-message-id", "")) > MAX_MESSAGE_ID_LENGTH:
        raise ProblemError(489, f"Upstash-Message-Id is longer than {MAX_MESSAGE_ID_LENGTH} characters")


def _decode(body: bytes, type_: type) -> Any:
    try:
        return msgspec.json.decode(body, type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise ProblemError(489, f"the message body can never be processed: {error}") from None
    except RecursionError:
        raise ProblemError(489, f"the message body can never be processed: {NESTED_TOO_DEEPLY}") from None


def _answer(request: Request, answer: Answer) -> Response[dict[str, Any]]:
    request.app.state.metrics.delivered(delivery_outcome(answer.status, answer.outcome, "duplicate" in answer.detail))
    logger.debug("delivery answered", extra={"outcome": answer.outcome, "status": answer.status})
    return Response({"outcome": answer.outcome, **answer.detail}, status_code=answer.status)


class QStashController(Controller):
    path = "/qstash"
    tags = ["qstash"]

    @post(
        "/run",
        status_code=200,
        summary="QStash delivers one run of a job",
        responses=problem_responses(401, 489),
    )
    async def run(self, request: Request) -> Response[dict[str, Any]]:
        # The hottest route skips DI: with three dependencies Litestar resolves them in an
        # anyio task group, three tasks per delivery. The app built these values itself.
        state = request.app.state
        body, jti = await _verified_body(request, state.settings, "/qstash/run")
        message = _decode(body, RunMessage)
        answer = await deliver_run(
            state.pool,
            state.kinds,
            state.observers,
            message_id=_message_id(request),
            retried=_retried(request),
            job_id=message.job_id,
            run=message.run,
            jti=jti,
        )
        return _answer(request, answer)

    @post(
        "/schedules/{schedule_id:uuid}/fire",
        status_code=200,
        summary="QStash fires a schedule: at most one job per tick",
        responses=problem_responses(401, 404, 489),
    )
    async def fire_schedule(self, request: Request, schedule_id: FromPath[UUID]) -> Response[dict[str, Any]]:
        state = request.app.state
        _, jti = await _verified_body(request, state.settings, f"/qstash/schedules/{schedule_id}/fire")
        answer = await fire(
            state.pool,
            state.kinds,
            state.observers,
            schedule_id=schedule_id,
            message_id=_message_id(request),
            jti=jti,
            retried=_retried(request),
            clock=state.fire_clock,
        )
        return _answer(request, answer)

    @post(
        "/failed",
        status_code=200,
        summary="QStash gave up on a run (failure callback)",
        responses=problem_responses(401, 489),
    )
    async def failed(
        self, request: Request, pool: Pool, settings: CurrentSettings, observers: CommitObservers
    ) -> Response[dict[str, Any]]:
        body, jti = await _verified_body(request, settings, "/qstash/failed")
        callback = _decode(body, FailureCallback)
        try:
            source = msgspec.json.decode(base64.b64decode(callback.sourceBody), type=RunMessage)
        except (ValueError, msgspec.DecodeError, msgspec.ValidationError) as error:
            raise ProblemError(489, f"the failure callback names no run of a job: {error}") from None
        answer = await fail_after_retries(
            pool,
            observers,
            message_id=_message_id(request),
            job_id=source.job_id,
            run=source.run,
            dlq_id=callback.dlqId,
            last_status=callback.status,
            jti=jti,
        )
        return _answer(request, answer)

    @post(
        "/sweep",
        status_code=200,
        summary="Time out overdue jobs and re-dispatch stalled ones (QStash schedule)",
        responses=problem_responses(401, 489),
    )
    async def sweep(
        self, request: Request, pool: Pool, settings: CurrentSettings, observers: CommitObservers
    ) -> sweeper.SweepReport:
        await _verified_body(request, settings, "/qstash/sweep")  # a copy only sweeps again: no claim
        qstash = request.app.state.get("qstash")
        policy = retention_policy(settings, request.app.state.kinds)
        retention = (
            sweeper.Retention(policy, DirectoryStore(settings.archive_root), load_signer(settings)) if policy else None
        )
        return await sweeper.sweep(pool, qstash, settings.redispatch_after_s, observers=observers, retention=retention)

    @post(
        "/probe",
        status_code=200,
        summary="A process of this service checks that QStash's deliveries reach it (self-probe)",
        responses=problem_responses(401, 489),
    )
    async def probe(self, request: Request, pool: Pool, settings: CurrentSettings) -> dict[str, str]:
        # A copy records the same nonce again, harmlessly: no claim of the token.
        body, _ = await _verified_body(request, settings, "/qstash/probe")
        probe = _decode(body, ProbeMessage)
        async with pool.connection() as conn:
            await delivery_probes.record(conn, probe.nonce)
        return {"outcome": "probe_recorded"}


def _message_id(request: Request) -> str:
    message_id = request.headers.get("upstash-message-id", "").strip()
    if not message_id:
        raise ProblemError(489, "a QStash delivery carries Upstash-Message-Id")
    return message_id


def _retried(request: Request) -> int:
    value = request.headers.get("upstash-retried", "0")
    return int(value) if value.isdigit() else 0
