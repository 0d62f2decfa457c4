"""The broker's tokens, put together without PyJWT, read as QStash's: by PyJWT and by our verifier."""

import time

import jwt

from service.broker.signing import body_hash, sign
from service.qstash.signature import verify_signature
from service.settings import DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY

URL = "http://127.0.0.1:8000/qstash/run"
BODY = b'{"job_id":"00000000-0000-0000-0000-000000000001","run":1}'


def test_a_token_decodes_with_pyjwt_to_qstash_claims_and_passes_our_verifier() -> None:
    now = int(time.time())
    token = sign(DEV_CURRENT_SIGNING_KEY, URL, BODY, now)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, DEV_CURRENT_SIGNING_KEY, algorithms=["HS256"], issuer="Upstash")
    assert claims | {"jti": ""} == {
        "iss": "Upstash", "sub": URL, "exp": now + 300, "nbf": now, "iat": now, "jti": "", "body": body_hash(BODY),
    }  # fmt: skip
    assert verify_signature(token, BODY, URL, (DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY)) == claims["jti"]


def test_every_token_carries_its_own_id() -> None:
    now = int(time.time())
    ids = {
        jwt.decode(sign(DEV_CURRENT_SIGNING_KEY, URL, BODY, now), options={"verify_signature": False})["jti"]
        for _ in range(1000)
    }
    assert len(ids) == 1000
    assert all(jti.startswith("jwt_") for jti in ids)
