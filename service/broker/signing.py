"""The `Upstash-Signature` JWT, exactly as QStash mints it (protocol §10.3).

HS256 is one HMAC over two base64url segments, so the token is put together here with
msgspec and the standard library: PyJWT's encode (dict merging, `json.dumps`, key
checks) cost ~20 µs a delivery, the largest part of the local broker's work per run.
The header never changes and is encoded once. `jti` must be unique per token (the
service claims it, service/qstash/delivery.py) but need not be secret: the MAC, not the
id, makes a token unforgeable, so it is drawn from `random` (no system call), as
QStash's own are opaque 21-byte ids.
"""

import base64
import hashlib
import hmac
import random

import msgspec

LIFETIME_S = 300

_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
_encoder = msgspec.json.Encoder()


class _Claims(msgspec.Struct):
    iss: str
    sub: str
    exp: int
    nbf: int
    iat: int
    jti: str
    body: str


def body_hash(body: bytes) -> str:
    """Padded base64url SHA-256, as QStash sends it (receivers strip the `=`)."""
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode()


def sign(key: str, url: str, body: bytes, now: int) -> str:
    jti = "jwt_" + _segment(random.randbytes(21)).decode()
    claims = _Claims(iss="Upstash", sub=url, exp=now + LIFETIME_S, nbf=now, iat=now, jti=jti, body=body_hash(body))
    signed = _HEADER + b"." + _segment(_encoder.encode(claims))
    mac = hmac.digest(key.encode(), signed, hashlib.sha256)
    return (signed + b"." + _segment(mac)).decode()


def _segment(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")
