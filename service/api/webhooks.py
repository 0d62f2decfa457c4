"""Webhook routes: an owner's endpoints (create, list, delete, rotate a secret), the
owner's notify_url secret, and a job's notifications. Every secret is shown once, in the
answer that made it; everything else is scoped to the caller's owner."""

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from domain.lifecycle import Status
from service.api.auth import BEARER, require, require_read
from service.api.content_type import require_json_body
from service.api.dependencies import Caller, CurrentSettings, Pool
from service.api.jobs import KindFilter, visible_job
from service.api.problems import ProblemError, problem_responses
from service.api.webhook_targets import checked_target
from service.auth.keys import Scope
from service.notifications.secrets import new_secret, secret_box
from service.store import notifications, webhooks
from service.store.notifications import Delivery
from service.store.webhooks import Endpoint

MAX_ENDPOINTS = 20
NOTIFIED_STATUSES = {Status.COMPLETED, Status.CANCELLED, Status.ERROR, Status.TIMEOUT}
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
KindName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class CreateWebhookRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    url: Url
    # Named apart from the app's `kinds` dependency, which Litestar confuses with a body field in its errors.
    job_kinds: list[KindName] | None = None  # None: every kind
    statuses: list[Status] | None = None  # None: every final status


class WebhookDocument(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: uuid.UUID
    url: str
    job_kinds: list[str] | None
    statuses: list[str] | None
    created_at: datetime
    rotated_at: datetime | None
    secret: str | None = None  # only in the answer that made it


class WebhookList(msgspec.Struct, frozen=True):
    webhooks: list[WebhookDocument]


class SecretDocument(msgspec.Struct, frozen=True):
    secret: str


class NotificationList(msgspec.Struct, frozen=True):
    notifications: list[Delivery]


def _document(endpoint: Endpoint, secret: str | None = None) -> WebhookDocument:
    return WebhookDocument(
        id=endpoint.id,
        url=endpoint.url,
        job_kinds=endpoint.kinds,
        statuses=endpoint.statuses,
        created_at=endpoint.created_at,
        rotated_at=endpoint.rotated_at,
        secret=secret,
    )


class WebhooksController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]
    security = BEARER

    @post(
        "/",
        before_request=require_json_body,
        status_code=201,
        summary="Register an endpoint for the owner's job notifications; its secret is shown once",
        responses=problem_responses(400, 401, 403, 409, 415, 422, 503),
    )
    async def create(
        self, data: JSONBody[CreateWebhookRequest], principal: Caller, pool: Pool, settings: CurrentSettings
    ) -> WebhookDocument:
        require(principal, Scope.JOBS_WRITE)
        await checked_target(settings, data.url, "url")
        if data.job_kinds is not None and not 1 <= len(data.job_kinds) <= 50:
            message = "job_kinds: name 1 to 50 kinds, or leave it out for every kind"
            raise ProblemError(422, message, errors=[{"key": "job_kinds", "message": message}])
        if data.statuses is not None and not (data.statuses and NOTIFIED_STATUSES.issuperset(data.statuses)):
            message = "statuses: only final statuses are notified (completed, cancelled, error, timeout)"
            raise ProblemError(422, message, errors=[{"key": "statuses", "message": message}])
        secret = new_secret()
        sealed = secret_box(settings).seal(secret)
        statuses = [str(status) for status in data.statuses] if data.statuses else None
        async with pool.connection() as conn, conn.transaction():
            if await webhooks.count(conn, principal.owner) >= MAX_ENDPOINTS:
                raise ProblemError(409, f"an owner may register at most {MAX_ENDPOINTS} endpoints")
            endpoint = await webhooks.create(
                conn, uuid.uuid4(), principal.owner, data.url, data.job_kinds, statuses, sealed
            )
        return _document(endpoint, secret)

    @get(
        "/",
        summary="The owner's endpoints, optionally those a job of a kind and final status reaches",
        responses=problem_responses(400, 401, 403, 503),
    )
    async def list_webhooks(
        self, principal: Caller, pool: Pool, kind: KindFilter = None, status: FromQuery[Status | None] = None
    ) -> WebhookList:
        require_read(principal)
        async with pool.connection() as conn:
            endpoints = await webhooks.list_endpoints(conn, principal.owner)
        chosen = [
            endpoint
            for endpoint in endpoints
            if (kind is None or endpoint.kinds is None or kind in endpoint.kinds)
            and (status is None or endpoint.statuses is None or str(status) in endpoint.statuses)
        ]
        return WebhookList([_document(endpoint) for endpoint in chosen])

    @delete(
        "/{webhook_id:uuid}",
        status_code=204,
        summary="Delete an endpoint",
        responses=problem_responses(400, 401, 403, 404, 503),
    )
    async def remove(self, webhook_id: FromPath[uuid.UUID], principal: Caller, pool: Pool) -> None:
        require(principal, Scope.JOBS_WRITE)
        async with pool.connection() as conn:
            if not await webhooks.delete(conn, principal.owner, webhook_id):
                raise ProblemError(404, "no such webhook endpoint")

    @post(
        "/{webhook_id:uuid}/rotate",
        status_code=200,
        summary="Give an endpoint a new secret, shown once; the old one stops signing at once",
        responses=problem_responses(400, 401, 403, 404, 503),
    )
    async def rotate(
        self, webhook_id: FromPath[uuid.UUID], principal: Caller, pool: Pool, settings: CurrentSettings
    ) -> WebhookDocument:
        require(principal, Scope.JOBS_WRITE)
        secret = new_secret()
        async with pool.connection() as conn:
            endpoint = await webhooks.rotate(conn, principal.owner, webhook_id, secret_box(settings).seal(secret))
        if endpoint is None:
            raise ProblemError(404, "no such webhook endpoint")
        return _document(endpoint, secret)

    @post(
        "/notify-secret",
        status_code=200,
        summary="Make (or replace) the secret that signs notifications to jobs' notify_url; shown once",
        responses=problem_responses(400, 401, 403, 503),
    )
    async def notify_secret(self, principal: Caller, pool: Pool, settings: CurrentSettings) -> SecretDocument:
        require(principal, Scope.JOBS_WRITE)
        secret = new_secret()
        async with pool.connection() as conn:
            await webhooks.set_notify_secret(conn, principal.owner, secret_box(settings).seal(secret))
        return SecretDocument(secret)


@get(
    "/v1/jobs/{job_id:uuid}/notifications",
    tags=["jobs", "webhooks"],
    security=BEARER,
    summary="A job's notifications: each endpoint, its attempts, last status, delivered or failed",
    responses=problem_responses(400, 401, 403, 404, 503),
)
async def job_notifications(job_id: FromPath[uuid.UUID], principal: Caller, pool: Pool) -> Response[NotificationList]:
    require_read(principal)
    await visible_job(pool, principal, job_id)
    async with pool.connection() as conn:
        found = await notifications.of_job(conn, job_id)
    return Response(NotificationList(found))
