"""Verify QStash's `Upstash-Signature` on the raw body.

We decode the JWT ourselves rather than with `qstash.Receiver`: its clock tolerance
never reaches PyJWT (so a sender one second ahead fails), and its next-key fallback
hides the real reason for a failure. Rules: HS256 only, issuer "Upstash", `sub` equal
to the URL of the route as the public sees it, `body` equal to the SHA-256 of the
exact bytes received; the current key first, then the next one.
"""

import base64
import hashlib

import jwt

LEEWAY_S = 5
_REQUIRED = ["iss", "sub", "exp", "nbf"]


class InvalidSignature(Exception):
    """The delivery is not provably from QStash for this route and body."""


def verify_signature(signature: str | None, body: bytes, url: str, keys: tuple[str, ...]) -> None:
    if not signature:
        raise InvalidSignature("missing Upstash-Signature")
    reasons = []
    for key in keys:
        try:
            _verify_with(key, signature, body, url)
            return
        except InvalidSignature as error:
            reasons.append(str(error))
    raise InvalidSignature(reasons[0] if reasons else "no signing key configured")


def _verify_with(key: str, signature: str, body: bytes, url: str) -> None:
    try:
        claims = jwt.decode(
            signature, key, algorithms=["HS256"], issuer="Upstash", leeway=LEEWAY_S, options={"require": _REQUIRED}
        )
    except jwt.PyJWTError as error:
        raise InvalidSignature(f"signature rejected: {error}") from None
    if str(claims["sub"]).rstrip("/") != url.rstrip("/"):
        raise InvalidSignature("signature was issued for another URL")
    digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode().rstrip("=")
    if str(claims.get("body", "")).rstrip("=") != digest:
        raise InvalidSignature("body does not match the signature")
