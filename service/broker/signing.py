"""The `Upstash-Signature` JWT, exactly as QStash mints it (protocol §10.3)."""

import base64
import hashlib
import secrets

import jwt

LIFETIME_S = 300


def body_hash(body: bytes) -> str:
    """Padded base64url SHA-256, as QStash sends it (receivers strip the `=`)."""
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode()


def sign(key: str, url: str, body: bytes, now: int) -> str:
    claims = {
        "iss": "Upstash",
        "sub": url,
        "exp": now + LIFETIME_S,
        "nbf": now,
        "iat": now,
        "jti": "jwt_" + secrets.token_urlsafe(21),
        "body": body_hash(body),
    }
    return jwt.encode(claims, key, algorithm="HS256", headers={"typ": "JWT"})
