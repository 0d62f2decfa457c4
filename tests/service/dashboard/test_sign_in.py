"""Signing in and out of the dashboard with an API key, and the session cookie it gets."""

import pytest
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from service.auth.keys import revoke_key
from service.dashboard.session import secure_cookies
from service.settings import Settings
from tests.service.dashboard.conftest import Keys, create, csrf_token, sign_in
from tests.service.key_ids import key_id_of

pytestmark = pytest.mark.anyio


def set_cookie(response, name: str) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    return headers[0]


async def test_a_valid_key_signs_in_with_an_httponly_secure_strict_cookie(browser: AsyncTestClient, keys: Keys) -> None:
    response = await sign_in(browser, keys.acme)

    assert response.status_code == 303 and response.headers["location"] == "/jobs"
    attributes = [a.strip().lower() for a in set_cookie(response, "jobtrail_session").split(";")]
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= set(attributes)
    page = await browser.get("/jobs")
    assert page.status_code == 200 and "signed in as <strong>acme</strong>" in page.text


async def test_a_wrong_key_shows_the_form_again_with_a_message_and_sets_no_key_cookie(
    browser: AsyncTestClient, keys: Keys
) -> None:
    response = await sign_in(browser, "jt_0123456789ab_not-a-real-secret")

    assert response.status_code == 422
    assert "unknown or revoked" in response.text and 'name="key"' in response.text
    assert "jobtrail_session=" not in " ".join(response.headers.get_list("set-cookie"))
    assert (await browser.get("/jobs", follow_redirects=False)).headers["location"] == "/"


async def test_a_key_that_may_not_read_jobs_is_refused(browser: AsyncTestClient, keys: Keys) -> None:
    response = await sign_in(browser, keys.acme_write)

    assert response.status_code == 422 and "jobs:read" in response.text


async def test_a_sign_in_without_the_forms_token_is_refused(browser: AsyncTestClient, keys: Keys) -> None:
    await browser.get("/")

    response = await browser.post("/login", data={"key": keys.acme, "csrf_token": "forged"})

    assert response.status_code == 403 and "text/html" in response.headers["content-type"]
    assert "jobtrail_session=" not in " ".join(response.headers.get_list("set-cookie"))


async def test_signing_out_clears_the_cookie_and_the_pages_send_you_back_to_the_form(
    browser: AsyncTestClient, keys: Keys
) -> None:
    await sign_in(browser, keys.acme)
    jobs = await browser.get("/jobs")

    response = await browser.post("/logout", data={"csrf_token": csrf_token(jobs)}, follow_redirects=False)

    assert response.status_code == 303 and response.headers["location"] == "/"
    assert "max-age=0" in set_cookie(response, "jobtrail_session").lower()
    assert (await browser.get("/jobs", follow_redirects=False)).headers["location"] == "/"


async def test_signing_out_needs_the_forms_token(browser: AsyncTestClient, keys: Keys) -> None:
    await sign_in(browser, keys.acme)

    response = await browser.post("/logout", data={"csrf_token": "forged"})

    assert response.status_code == 403
    assert (await browser.get("/jobs")).status_code == 200


async def test_the_form_sends_a_signed_in_visitor_to_the_jobs(browser: AsyncTestClient, keys: Keys) -> None:
    await sign_in(browser, keys.acme)

    response = await browser.get("/", follow_redirects=False)

    assert response.status_code in (302, 303) and response.headers["location"] == "/jobs"


async def test_a_revoked_key_sends_the_browser_back_to_the_form(
    browser: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    await sign_in(browser, keys.acme)
    async with pool.connection() as conn:
        assert await revoke_key(conn, key_id_of(keys.acme))

    response = await browser.get("/jobs/rows", follow_redirects=False)

    assert (response.status_code, response.headers["location"]) == (303, "/")


async def test_a_job_pages_next_poll_after_its_key_is_revoked_is_refused(
    browser: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    job = (await create(browser, keys.acme))["id"]
    await sign_in(browser, keys.acme)
    polls = [(f"/jobs/{job}/live", {"since": 1}), (f"/jobs/{job}/live", {}), ("/jobs/rows", {})]
    assert [(await browser.get(url, params=params)).status_code for url, params in polls] == [204, 200, 200]
    async with pool.connection() as conn:
        assert await revoke_key(conn, key_id_of(keys.acme))

    refused = [await browser.get(url, params=params, follow_redirects=False) for url, params in polls]

    assert [(r.status_code, r.headers.get("location")) for r in refused] == [(303, "/")] * len(polls)


async def test_pages_are_neither_cached_nor_framed(browser: AsyncTestClient, keys: Keys) -> None:
    await sign_in(browser, keys.acme)

    response = await browser.get("/jobs")

    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("public_url", "secure"),
    [
        ("http://127.0.0.1:8000", True),  # Chromium keeps Secure cookies on loopback (tests/e2e/test_dashboard.py)
        ("http://localhost:8000", True),
        ("https://jobs.example.com", True),
        ("http://10.0.0.7:8000", False),  # a browser would drop a Secure cookie sent over plain http
    ],
)
def test_cookies_are_secure_wherever_a_browser_would_keep_them(public_url: str, secure: bool) -> None:
    assert secure_cookies(Settings(public_url=public_url)) is secure
