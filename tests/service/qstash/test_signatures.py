"""Every way a forged or altered delivery can arrive is refused with 401, and writes nothing."""

import base64
import hashlib
import time
import uuid

import jwt
import msgspec
import pytest

from service.settings import DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY
from tests.service.qstash.conftest import PUBLIC_URL

RUN_URL = f"{PUBLIC_URL}/qstash/run"
WRONG_KEY = "sig_0000000000000000000000000000"


def body_hash(body: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode()


def claims(body: bytes, **changes) -> dict:
    now = int(time.time())
    return {
        "iss": "Upstash",
        "sub": RUN_URL,
        "exp": now + 300,
        "nbf": now,
        "iat": now,
        "jti": f"jwt_{uuid.uuid4().hex}",
        "body": body_hash(body),
        **changes,
    }


def sign(payload: dict, key: str = DEV_CURRENT_SIGNING_KEY) -> str:
    return jwt.encode(payload, key, algorithm="HS256", headers={"typ": "JWT"})


def unsigned(payload: dict) -> str:
    """An `alg: none` token, built by hand (PyJWT refuses to make one)."""
    part = lambda value: base64.urlsafe_b64encode(msgspec.json.encode(value)).decode().rstrip("=")  # noqa: E731
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


async def count_rows(pool) -> tuple[int, int]:
    async with pool.connection() as conn:
        events = (await (await conn.execute("SELECT count(*) FROM events")).fetchone())[0]
        inbox = (await (await conn.execute("SELECT count(*) FROM inbox")).fetchone())[0]
    return events, inbox


BODY = msgspec.json.encode({"job_id": str(uuid.uuid4()), "run": 1})

ATTACKS = {
    "missing": lambda: (None, BODY),
    "garbage": lambda: ("not.a.jwt", BODY),
    "wrong key": lambda: (sign(claims(BODY), WRONG_KEY), BODY),
    "expiring in 1e20 s": lambda: (sign(claims(BODY, exp=1e20)), BODY),
    "expired": lambda: (sign(claims(BODY, exp=int(time.time()) - 60, iat=int(time.time()) - 400)), BODY),
    "not yet valid": lambda: (sign(claims(BODY, nbf=int(time.time()) + 120, iat=int(time.time()) + 120)), BODY),
    "body changed by one byte": lambda: (sign(claims(BODY)), BODY[:-2] + b"2}"),
    "sub of another route": lambda: (sign(claims(BODY, sub=f"{PUBLIC_URL}/qstash/failed")), BODY),
    "alg none": lambda: (unsigned(claims(BODY)), BODY),
    "issuer not Upstash": lambda: (sign(claims(BODY, iss="Mallory")), BODY),
    "non-UTF-8 body": lambda: (sign(claims(b"\xff\xfe{")), b"\xff\xfe{"),
}


@pytest.mark.anyio
@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_a_forged_or_altered_delivery_is_refused_and_writes_nothing(attack, client, pool):
    signature, body = ATTACKS[attack]()
    headers = {"Content-Type": "application/json", "Upstash-Message-Id": "msg_attack", "Upstash-Retried": "0"}
    if signature is not None:
        headers["Upstash-Signature"] = signature
    before = await count_rows(pool)
    response = await client.post("/qstash/run", content=body, headers=headers)
    if attack == "non-UTF-8 body":  # correctly signed, but no JSON can be read from it: never retry
        assert response.status_code == 489
        assert response.headers["upstash-nonretryable-error"] == "true"
    else:
        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await count_rows(pool) == before


@pytest.mark.anyio
async def test_a_delivery_signed_with_the_next_key_is_accepted(client, pool):
    response = await client.post(
        "/qstash/run",
        content=BODY,
        headers={
            "Content-Type": "application/json",
            "Upstash-Signature": sign(claims(BODY), DEV_NEXT_SIGNING_KEY),
            "Upstash-Message-Id": "msg_next_key",
            "Upstash-Retried": "0",
        },
    )
    assert response.status_code == 200  # an unknown job: a recorded no-op
    assert response.json()["outcome"] == "unknown_job"
    assert await count_rows(pool) == (0, 1)


@pytest.mark.anyio
async def test_a_repeated_message_gets_the_recorded_answer_and_writes_nothing_more(client, pool):
    headers = {
        "Content-Type": "application/json",
        "Upstash-Signature": sign(claims(BODY)),
        "Upstash-Message-Id": "msg_twice",
        "Upstash-Retried": "0",
    }
    first = await client.post("/qstash/run", content=BODY, headers=headers)
    second = await client.post("/qstash/run", content=BODY, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == {**first.json(), "duplicate": True}
    assert await count_rows(pool) == (0, 1)


@pytest.mark.anyio
async def test_a_signed_body_nested_too_deeply_is_never_retried(client, pool):
    """/qstash/failed skips the fields it does not use, and skipping recurses too."""
    route = "failed"
    body = b'{"sourceBody": "", "deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    headers = {
        "Content-Type": "application/json",
        "Upstash-Signature": sign(claims(body, sub=f"{PUBLIC_URL}/qstash/{route}")),
        "Upstash-Message-Id": f"msg_deep_{route}",
        "Upstash-Retried": "0",
    }
    before = await count_rows(pool)

    response = await client.post(f"/qstash/{route}", content=body, headers=headers)

    assert response.status_code == 489, response.text
    assert "too deeply" in response.json()["detail"]
    assert await count_rows(pool) == before
