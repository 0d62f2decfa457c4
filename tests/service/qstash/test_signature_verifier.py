"""The HS256 check itself, on tokens minted by PyJWT as QStash mints them (no database)."""

import base64
import hashlib
import time

import jwt
import pytest

from service.qstash.signature import InvalidSignature, verify_signature
from service.settings import DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY

URL = "http://jobtrail.test/qstash/run"
BODY = b'{"job_id":"5b7c2f0e-8f55-4a55-9a43-2b1b1b6f0c11","run":1}'
KEYS = (DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY)
LONG_KEY = "k" * 64  # long enough for HS384 without a warning


def minted(algorithm: str = "HS256", key: str = DEV_CURRENT_SIGNING_KEY, **changes) -> str:
    now = int(time.time())
    claims = {
        "iss": "Upstash",
        "sub": URL,
        "exp": now + 300,
        "nbf": now,
        "iat": now,
        "body": base64.urlsafe_b64encode(hashlib.sha256(BODY).digest()).decode(),
        **changes,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=algorithm)


def test_a_token_minted_with_either_key_for_this_route_and_body_is_accepted():
    verify_signature(minted(), BODY, URL, KEYS)
    verify_signature(minted(key=DEV_NEXT_SIGNING_KEY), BODY, URL, KEYS)


def test_a_clock_a_few_seconds_apart_is_tolerated():
    now = int(time.time())
    verify_signature(minted(nbf=now + 2), BODY, URL, KEYS)
    verify_signature(minted(exp=now - 2), BODY, URL, KEYS)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: minted("HS384", key=LONG_KEY), id="another algorithm"),
        pytest.param(lambda: minted(exp=None), id="no expiry"),
        pytest.param(lambda: minted(nbf=None), id="no not-before"),
        pytest.param(lambda: minted(sub=None), id="no subject"),
        pytest.param(lambda: minted(exp="tomorrow"), id="an expiry that is not a number"),
        pytest.param(lambda: minted().replace(".", "!.", 1), id="junk in the header segment"),
        pytest.param(lambda: minted() + "=", id="padding on the signature"),
        pytest.param(lambda: minted()[:-2], id="a truncated signature"),
        pytest.param(lambda: minted() + ".extra", id="four segments"),
        pytest.param(lambda: "é." + minted(), id="non-ASCII"),
    ],
)
def test_a_token_that_is_not_exactly_an_hs256_jwt_from_qstash_is_refused(token):
    with pytest.raises(InvalidSignature):
        verify_signature(token(), BODY, URL, KEYS)


def test_a_token_whose_claims_were_edited_after_signing_is_refused():
    header, _, mac = minted().split(".")
    forged = jwt.encode({"iss": "Upstash", "sub": URL, "exp": 2**40, "nbf": 0}, LONG_KEY).split(".")[1]
    with pytest.raises(InvalidSignature, match="verification failed"):
        verify_signature(f"{header}.{forged}.{mac}", BODY, URL, KEYS)


@pytest.mark.parametrize("exp", [1e20, 2**40, int(time.time()) + 3600])
def test_a_token_living_longer_than_qstash_lets_one_live_is_refused(exp):
    with pytest.raises(InvalidSignature, match="expires later"):
        verify_signature(minted(exp=exp), BODY, URL, KEYS)


def test_a_token_minted_by_a_clock_a_few_seconds_ahead_keeps_its_full_lifetime():
    ahead = int(time.time()) + 4
    verify_signature(minted(nbf=ahead, iat=ahead, exp=ahead + 300), BODY, URL, KEYS)


def test_a_token_not_valid_until_far_in_the_future_is_refused():
    later = int(time.time()) + 3600
    with pytest.raises(InvalidSignature):
        verify_signature(minted(nbf=later, iat=later, exp=later + 300), BODY, URL, KEYS)
