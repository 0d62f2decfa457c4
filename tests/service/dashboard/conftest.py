"""A browser-like client of the real app: it keeps cookies and speaks https, so Secure
cookies travel as they would from a browser."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.service.api.conftest import Keys, app, create, keys  # noqa: F401  (fixtures)

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def browser(app: Litestar) -> AsyncIterator[AsyncTestClient]:  # noqa: F811
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as client:
        yield client


def csrf_token(page: httpx.Response) -> str:
    found = TOKEN.search(page.text)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def sign_in(browser: AsyncTestClient, key: str) -> httpx.Response:
    """Open the sign-in form and submit `key` with the form's token, as a person would."""
    form = await browser.get("/")
    return await browser.post("/login", data={"key": key, "csrf_token": csrf_token(form)}, follow_redirects=False)
