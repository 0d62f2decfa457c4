"""An `Upstash-Message-Id` the inbox could never store is refused up front, never a 500."""

import base64
import secrets
import uuid

import msgspec
import pytest

from service.api.qstash import MAX_MESSAGE_ID_LENGTH
from tests.service.qstash.conftest import PUBLIC_URL
from tests.service.qstash.test_signatures import claims, count_rows, sign

# ~3 KB that do not compress: past the ~2.7 KB an inbox index entry may take.
OVERSIZED_ID = "msg_" + secrets.token_urlsafe(2250)
RUN = msgspec.json.encode({"job_id": str(uuid.uuid4()), "run": 1})
BODIES = {
    "/qstash/run": RUN,
    "/qstash/failed": msgspec.json.encode({"sourceBody": base64.b64encode(RUN).decode(), "status": 500}),
    "/qstash/sweep": b"",
}


def signed_headers(route: str, body: bytes, message_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Upstash-Signature": sign(claims(body, sub=f"{PUBLIC_URL}{route}")),
        "Upstash-Message-Id": message_id,
        "Upstash-Retried": "0",
    }


@pytest.mark.anyio
@pytest.mark.parametrize("route", list(BODIES))
async def test_a_signed_delivery_with_an_oversized_message_id_is_refused_as_never_retryable(route, client, pool):
    before = await count_rows(pool)
    response = await client.post(
        route, content=BODIES[route], headers=signed_headers(route, BODIES[route], OVERSIZED_ID)
    )
    assert response.status_code == 489, response.text
    assert response.headers["upstash-nonretryable-error"] == "true"
    assert "Upstash-Message-Id" in response.json()["detail"]
    assert await count_rows(pool) == before


@pytest.mark.anyio
async def test_an_unsigned_delivery_with_an_oversized_message_id_is_still_just_unauthorized(client, pool):
    headers = {**signed_headers("/qstash/run", RUN, OVERSIZED_ID), "Upstash-Signature": "not.a.jwt"}
    response = await client.post("/qstash/run", content=RUN, headers=headers)
    assert response.status_code == 401


@pytest.mark.anyio
async def test_a_message_id_at_the_bound_is_delivered(client, pool):
    message_id = "msg_" + "y" * (MAX_MESSAGE_ID_LENGTH - 4)
    response = await client.post("/qstash/run", content=RUN, headers=signed_headers("/qstash/run", RUN, message_id))
    assert response.status_code == 200  # an unknown job: a recorded no-op
    assert await count_rows(pool) == (0, 1)
