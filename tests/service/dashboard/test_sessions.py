"""The dashboard's cookie names a server-side session, never the API key: a copy of it
stops working once the session is signed out, its key revoked, or its time is up."""

import asyncio
import hashlib
from datetime import timedelta
from pathlib import Path

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from service.app import create_app
from service.cli import main
from service.dashboard.session import LEGACY_KEY_COOKIE, SESSION_COOKIE
from service.settings import Settings
from tests.service.api.conftest import auth
from tests.service.dashboard.conftest import Keys, csrf_token, sign_in
from tests.service.key_ids import key_id_of

pytestmark = pytest.mark.anyio

SESSIONS = "SELECT token_hash, key_id, expires_at - created_at FROM dashboard_sessions"


async def signed_in(browser: AsyncTestClient, key: str) -> str:
    """Sign in and return the session cookie's value."""
    assert (await sign_in(browser, key)).status_code == 303
    token = browser.cookies.get(SESSION_COOKIE)
    assert token
    return token


async def copied(browser: AsyncTestClient, token: str, path: str = "/jobs") -> httpx.Response:
    """The request of another browser holding a copy of the cookie (an explicit Cookie
    header wins over the client's own jar)."""
    return await browser.get(path, headers={"Cookie": f"{SESSION_COOKIE}={token}"}, follow_redirects=False)


def refused(response: httpx.Response) -> bool:
    return (response.status_code, response.headers.get("location")) == (303, "/")


async def rows(pool: AsyncConnectionPool) -> list[tuple]:
    async with pool.connection() as conn:
        return await (await conn.execute(SESSIONS)).fetchall()


async def test_the_cookie_holds_a_random_token_and_the_database_only_its_hash(
    browser: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    response = await sign_in(browser, keys.acme)
    token = browser.cookies.get(SESSION_COOKIE)

    assert token and token != keys.acme and len(token) >= 43  # 32 random bytes
    assert all(keys.acme not in header for header in response.headers.get_list("set-cookie"))
    [(token_hash, key_id, lifetime)] = await rows(pool)
    assert token_hash == hashlib.sha256(token.encode()).digest()
    assert key_id == key_id_of(keys.acme)
    assert lifetime == timedelta(hours=12)
    assert "max-age=43200" in response.headers["set-cookie"].lower()
    assert (await browser.get("/v1/jobs", headers=auth(token))).status_code == 401  # no API key


async def test_a_copied_cookie_stops_working_after_sign_out(
    browser: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    token = await signed_in(browser, keys.acme)
    assert (await copied(browser, token)).status_code == 200
    jobs = await browser.get("/jobs")

    await browser.post("/logout", data={"csrf_token": csrf_token(jobs)})

    assert refused(await copied(browser, token))
    assert await rows(pool) == []


async def test_a_copied_cookie_stops_working_after_keys_revoke(
    browser: AsyncTestClient, keys: Keys, cli_database: str
) -> None:
    token = await signed_in(browser, keys.acme)
    assert (await copied(browser, token)).status_code == 200

    assert await asyncio.to_thread(main, ["keys", "revoke", key_id_of(keys.acme) or ""]) == 0

    assert refused(await copied(browser, token))
    assert refused(await copied(browser, token, "/jobs/rows"))


async def test_a_copied_cookie_stops_working_once_the_session_expires(
    browser: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    token = await signed_in(browser, keys.acme)
    async with pool.connection() as conn:
        await conn.execute("UPDATE dashboard_sessions SET expires_at = now() - interval '1 second'")

    assert refused(await copied(browser, token))
    assert refused(await browser.get("/jobs", follow_redirects=False))


async def test_expired_sessions_are_removed_at_the_next_sign_in(
    browser: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    await signed_in(browser, keys.acme)
    async with pool.connection() as conn:
        await conn.execute("UPDATE dashboard_sessions SET expires_at = now() - interval '1 second'")

    token = await signed_in(browser, keys.globex)

    [(token_hash, key_id, _)] = await rows(pool)
    assert (token_hash, key_id) == (hashlib.sha256(token.encode()).digest(), key_id_of(keys.globex))


async def test_signing_in_again_ends_the_session_the_browser_had(
    browser: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    first = await signed_in(browser, keys.acme)

    second = await signed_in(browser, keys.globex)

    assert first != second
    assert refused(await copied(browser, first))
    assert len(await rows(pool)) == 1


async def test_an_api_key_left_in_a_cookie_by_an_earlier_version_is_cleared(
    browser: AsyncTestClient, keys: Keys
) -> None:
    form = await browser.get("/", headers={"Cookie": f"{LEGACY_KEY_COOKIE}={keys.acme}"})

    cleared = [h for h in form.headers.get_list("set-cookie") if h.startswith(f"{LEGACY_KEY_COOKIE}=")]
    assert len(cleared) == 1 and "max-age=0" in cleared[0].lower() and keys.acme not in cleared[0]


async def test_the_session_lasts_as_long_as_the_setting_says(
    database_url: str, tmp_path: Path, keys: Keys, pool: AsyncConnectionPool
) -> None:
    settings = Settings.from_env({"DATABASE_URL": database_url, "JOBTRAIL_DASHBOARD_SESSION_S": "90"})
    app = create_app(msgspec.structs.replace(settings, data_dir=tmp_path), deliveries=False)
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as browser:
        response = await sign_in(browser, keys.acme)

    assert "max-age=90" in response.headers["set-cookie"].lower()
    [(_, _, lifetime)] = await rows(pool)
    assert lifetime == timedelta(seconds=90)
