"""While PostgreSQL refuses connections the dashboard answers a 503 page with Retry-After,
logs the outage once, and works again when the database is back."""

import asyncio
import json
import time
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import Settings
from tests.service.api.test_database_outage import set_outage
from tests.service.dashboard.conftest import Keys, csrf_token, sign_in

pytestmark = pytest.mark.anyio


async def test_pages_and_polls_answer_503_with_retry_after_during_an_outage_and_heal(
    admin_url: str, database_url: str, tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path, database_wait_s=0.5)
    app = create_app(settings, deliveries=False)
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as browser:
        await sign_in(browser, keys.acme)
        form = await browser.get("/")  # a fresh sign-in form, for a sign-in during the outage
        capsys.readouterr()
        set_outage(admin_url, database_url, down=True)
        try:
            answers = [
                await browser.get("/jobs"),
                await browser.get("/jobs/rows"),
                await browser.post("/login", data={"key": keys.acme, "csrf_token": csrf_token(form)}),
            ]
            logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
        finally:
            set_outage(admin_url, database_url, down=False)
        assert [r.status_code for r in answers] == [503] * 3
        assert all(r.headers["retry-after"] == "5" for r in answers)
        assert all(r.headers["content-type"].startswith("text/html") for r in answers)
        assert "Temporarily unavailable" in answers[0].text
        told = [line["event"] for line in logged if line["level"] in ("warning", "error")]
        assert len(told) == 1 and told[0].startswith("the database is unavailable ("), told
        give_up = time.monotonic() + 30  # the pool reconnects with a backoff of its own
        while (page := await browser.get("/jobs")).status_code != 200:
            assert time.monotonic() < give_up, page.text
            await asyncio.sleep(0.2)
        assert "signed in as <strong>acme</strong>" in page.text
