"""The dashboard in a real headless Chromium against a real `jobtrail serve`.

Chromium is Debian's (`make test` installs it when it can); Playwright drives it and
never downloads a browser of its own. Without a browser the test skips and says why.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.conftest import Service, create, wait_until_final

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LIVE_TIMEOUT_MS = 30_000


@pytest.fixture
def page(service: Service, api: httpx.Client, key: str) -> Iterator:
    """A browser tab; after the key (made with asyncio.run, which the driver's loop would forbid)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium); the dashboard test needs one")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM)
        try:
            context = browser.new_context(base_url=service.base_url, viewport={"width": 1440, "height": 900})
            yield context.new_page()
        finally:
            browser.close()


def screenshot(page, tmp_path: Path, name: str, full_page: bool = True) -> None:
    """Kept under the test's tmp dir, and also in $JOBTRAIL_SCREENSHOT_DIR when set."""
    page.screenshot(path=tmp_path / name, full_page=full_page)
    if target := os.environ.get("JOBTRAIL_SCREENSHOT_DIR"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / name, Path(target) / name)


def test_a_person_signs_in_and_watches_a_job_reach_completed_live(page, api: httpx.Client, key: str, tmp_path):
    expect = playwright.expect
    done = [create(api, params={"total": 60, "per_batch": 20}) for _ in range(2)]
    cancelled = create(api, params={"total": 100_000, "per_batch": 10, "slow_ms": 200})
    api.post(f"/v1/jobs/{cancelled['id']}/cancel")
    for job in done:
        wait_until_final(api, job["id"])
    slow = create(api, params={"total": 100, "per_batch": 10, "slow_ms": 500})

    page.goto("/")
    page.fill("#key", key)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{api.base_url}/jobs")
    cookie = next(c for c in page.context.cookies() if c["name"] == "jobtrail_session")
    assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (True, True, "Strict")

    row = page.locator(f'tr[data-job="{slow["id"]}"] .status')
    expect(row).to_have_text("processing", timeout=LIVE_TIMEOUT_MS)
    later = create(api, params={"total": 20, "per_batch": 10})
    expect(page.locator(f'tr[data-job="{later["id"]}"]')).to_be_visible()  # the list updates without a reload
    screenshot(page, tmp_path, "dashboard.png")

    page.click(f'tr[data-job="{slow["id"]}"] a')
    status = page.locator("#job [data-status]")
    assert status.inner_text() in {"pending", "processing"}
    expect(status).to_have_text("completed", timeout=LIVE_TIMEOUT_MS)  # the job page updates itself
    expect(page.locator("[data-chain]")).to_have_attribute("data-chain", "verified")
    expect(page.locator("svg.lifecycle .state.current")).to_have_attribute("data-state", "completed")
    expect(page.locator("table.timeline tbody tr").first).to_contain_text("JobCompleted")  # newest first

    page.click("text=Sign out")
    expect(page.locator("#key")).to_be_visible()
    assert all(c["name"] != "jobtrail_session" for c in page.context.cookies())


# What a superuser could do behind the guard: lift the trigger that refuses UPDATE, edit
# the job's first event, put the trigger back (one transaction, the table locked).
TAMPER = (
    "ALTER TABLE events DISABLE TRIGGER events_immutable",
    "UPDATE events SET data = jsonb_set(data, '{params,total}', '61') WHERE stream_id = %(stream_id)s AND version = 1",
    "ALTER TABLE events ENABLE TRIGGER events_immutable",
)


def test_a_history_edited_behind_the_databases_back_shows_broken_and_stays_so_while_the_job_runs(
    page, api: httpx.Client, key: str, database_url: str
):
    expect = playwright.expect
    job = create(api, params={"total": 60, "per_batch": 10, "slow_ms": 400})
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        for statement in TAMPER:
            conn.execute(statement, {"stream_id": job["id"]} if "%(" in statement else None)

    page.goto("/")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.goto(f"/jobs/{job['id']}")
    expect(page.locator("[data-chain]")).to_have_attribute("data-chain", "broken")
    expect(page.locator("#job [data-status]")).to_have_text("completed", timeout=LIVE_TIMEOUT_MS)

    expect(page.locator("[data-chain]")).to_have_attribute("data-chain", "broken")  # polls kept the verdict
    expect(page.locator("[data-chain]")).to_contain_text("at version 1")
    expect(page.locator("table.timeline tbody tr").first).to_contain_text("JobCompleted")


def test_a_person_watches_a_schedules_job_complete_and_pauses_and_resumes_it(
    page, api: httpx.Client, key: str, tmp_path
):
    expect = playwright.expect
    body = {"kind": "demo.count", "params": {"total": 40, "per_batch": 10, "slow_ms": 300}, "cron": "30 2 * * *"}
    schedule = api.post("/v1/schedules", json={**body, "time_zone": "Europe/Berlin", "overlap": "allow"}).json()
    job = api.post(f"/v1/schedules/{schedule['id']}/trigger").json()["job"]

    page.goto("/")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.click("nav.pages >> text=Schedules")
    page.click(f'tr[data-schedule="{schedule["id"]}"] a')
    expect(page.locator("table.fires tbody tr")).to_have_count(5)
    expect(page.locator(f'tr[data-job="{job["id"]}"] .status')).to_have_text("completed", timeout=LIVE_TIMEOUT_MS)
    screenshot(page, tmp_path, "schedule.png")

    page.click("button[data-action=pause]")
    expect(page.locator(".summary [data-status]")).to_have_text("paused")
    page.click("button[data-action=resume]")
    expect(page.locator(".summary [data-status]")).to_have_text("active")
    assert api.get(f"/v1/schedules/{schedule['id']}").json()["status"] == "active"
