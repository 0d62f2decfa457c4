"""Verify QStash's `Upstash-Signature` on the raw body.

We check the JWT ourselves rather than with `qstash.Receiver`: its clock tolerance
never reaches PyJWT (so a sender one second ahead fails), and its next-key fallback
hides the real reason for a failure. Rules: HS256 only, issuer "Upstash", `sub` equal
to the URL of the route as the public sees it, `body` equal to the SHA-256 of the
exact bytes received, `exp` no further ahead than QStash's 5-minute lifetime; the
current key first, then the next one. A valid token's `jti` is returned: the inbox
claims it, so that a captured request cannot run again, under any message id
(service/qstash/delivery.py).

HS256 is one HMAC, so it is done here with the standard library instead of PyJWT,
whose decode cost ~0.2 ms a delivery (a per-character alphabet check in Python, option
merging), a tenth of the service's CPU for one. The MAC is checked, in constant time,
before any claim is read; segments must be canonical unpadded base64url.
"""

import base64
import binascii
import hashlib
import hmac
import time

import msgspec

LEEWAY_S = 5
# QStash's tokens expire 5 minutes after they are minted. A later `exp` is refused: a
# captured token must not be replayable for longer than QStash itself allows. The margin
# is the same clock leeway as for `nbf`, so any token whose `nbf` passes (minted at most
# LEEWAY_S ahead of our clock) also passes this.
MAX_LIFETIME_S = 300


class InvalidSignature(Exception):
    """The delivery is not provably from QStash for this route and body."""


class _Header(msgspec.Struct):
    alg: str = ""


class _Claims(msgspec.Struct):
    iss: str
    sub: str
    exp: int | float
    nbf: int | float
    body: str = ""
    jti: str | None = None  # QStash always sends one; the protocol does not require it


_header_decoder = msgspec.json.Decoder(_Header)
_claims_decoder = msgspec.json.Decoder(_Claims)


def verify_signature(signature: str | None, body: bytes, url: str, keys: tuple[str, ...]) -> str | None:
    """The token's `jti` once the signature holds; InvalidSignature otherwise."""
    if not signature:
        raise InvalidSignature("missing Upstash-Signature")
    reasons = []
    for key in keys:
        try:
            return _verify_with(key, signature, body, url)
        except InvalidSignature as error:
            reasons.append(str(error))
    raise InvalidSignature(reasons[0] if reasons else "no signing key configured")


def _verify_with(key: str, signature: str, body: bytes, url: str) -> str | None:
    claims = _verified_claims(key, signature)
    if claims.iss != "Upstash":
        raise InvalidSignature("signature rejected: Invalid issuer")
    now = time.time()
    if claims.exp <= now - LEEWAY_S:
        raise InvalidSignature("signature rejected: Signature has expired")
    if claims.exp > now + MAX_LIFETIME_S + LEEWAY_S:
        raise InvalidSignature("signature rejected: expires later than a QStash token can")
    if claims.nbf > now + LEEWAY_S:
        raise InvalidSignature("signature rejected: The token is not yet valid (nbf)")
    if claims.sub.rstrip("/") != url.rstrip("/"):
        raise InvalidSignature("signature was issued for another URL")
    digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode().rstrip("=")
    if claims.body.rstrip("=") != digest:
        raise InvalidSignature("body does not match the signature")
    return claims.jti


def _verified_claims(key: str, signature: str) -> _Claims:
    """The claims of an HS256 token whose MAC `key` made; nothing is read before that holds."""
    parts = signature.split(".")
    if len(parts) != 3:
        raise InvalidSignature("signature rejected: Not enough segments")
    header, claims, mac = (_segment(part) for part in parts)
    try:
        algorithm = _header_decoder.decode(header).alg
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise InvalidSignature("signature rejected: Invalid header") from None
    if algorithm != "HS256":
        raise InvalidSignature("signature rejected: The specified alg value is not allowed")
    signed = f"{parts[0]}.{parts[1]}".encode("ascii")
    if not hmac.compare_digest(hmac.digest(key.encode(), signed, hashlib.sha256), mac):
        raise InvalidSignature("signature rejected: Signature verification failed")
    try:
        return _claims_decoder.decode(claims)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise InvalidSignature(f"signature rejected: invalid claims: {error}") from None


def _segment(part: str) -> bytes:
    """Strict unpadded base64url: junk the lenient decoder would skip is refused."""
    try:
        raw = part.encode("ascii")
        decoded = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise InvalidSignature("signature rejected: Invalid segment encoding") from None
    if base64.urlsafe_b64encode(decoded).rstrip(b"=") != raw:
        raise InvalidSignature("signature rejected: Invalid segment encoding")
    return decoded
