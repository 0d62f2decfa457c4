"""Signing keys (§9): read them, and rotate them (current ← next, next ← a fresh key)."""

from litestar import Request, get, post


@get("/v2/keys")
async def signing_keys(request: Request) -> dict:
    return request.app.state.broker.keys.view()


@post("/v2/keys/rotate", status_code=200)
async def rotate_signing_keys(request: Request) -> dict:
    keys = request.app.state.broker.keys
    keys.rotate()
    return keys.view()
