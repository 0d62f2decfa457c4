"""The operator console in a real headless Chromium against a real `jobtrail serve`:
actions on a job's page, who may use them, the overview, search, pages, a phone's width."""

import re

import httpx
import pytest

from service.auth.keys import Scope
from tests.e2e.conftest import create, new_key, wait_until_final
from tests.e2e.test_dashboard import LIVE_TIMEOUT_MS, page, playwright, screenshot  # noqa: F401  (fixture)

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def tab(page):  # noqa: F811  (test_dashboard's browser tab)
    return page


def sign_in(tab, key: str) -> None:
    tab.goto("/")
    tab.fill("#key", key)
    tab.click("button[type=submit]")
    playwright.expect(tab.locator("header .who")).to_be_visible()


def scroll_width(tab) -> int:
    return tab.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")


def test_an_operator_cancels_a_running_job_from_its_page_and_sees_it_cancelled_live(
    tab,
    api: httpx.Client,
    key: str,
    tmp_path,
):
    expect = playwright.expect
    running = create(api, params={"total": 100_000, "per_batch": 10, "slow_ms": 300})
    sign_in(tab, key)
    tab.goto(f"/jobs/{running['id']}")
    status = tab.locator("#job [data-status]")
    expect(status).to_have_text("processing", timeout=LIVE_TIMEOUT_MS)

    tab.click("summary[data-action=cancel]")  # the confirmation step
    expect(tab.locator("button[data-confirm=cancel]")).to_be_visible()
    tab.wait_for_timeout(1500)  # the page polls meanwhile: an open confirmation must survive the polls
    expect(tab.locator("button[data-confirm=cancel]")).to_be_visible()
    tab.click("button[data-confirm=cancel]")

    expect(status).to_have_text("cancelled", timeout=LIVE_TIMEOUT_MS)
    expect(tab.locator("table.timeline tbody tr").first).to_contain_text("JobCancelled")
    expect(tab.locator("table.timeline tbody tr").first).to_contain_text("api-key:")
    expect(tab.locator("#actions summary")).to_have_count(0)
    assert api.get(f"/v1/jobs/{running['id']}").json()["status"] == "cancelled"
    screenshot(tab, tmp_path, "job.png", full_page=False)


@pytest.fixture
def reader(database_url: str) -> str:
    """A key that reads every owner's jobs and changes none (made before the browser's loop starts)."""
    return new_key(database_url, Scope.JOBS_READ, Scope.AUDIT_READ)


def test_a_key_without_jobs_write_sees_no_action_and_its_forged_posts_are_refused(
    reader: str,
    tab,
    api: httpx.Client,
):
    expect = playwright.expect
    job = create(api, params={"total": 100_000, "per_batch": 10, "slow_ms": 300})
    sign_in(tab, reader)
    tab.goto(f"/jobs/{job['id']}")
    expect(tab.locator("#job [data-status]")).to_be_visible()
    expect(tab.locator("#actions summary")).to_have_count(0)

    token = next(c["value"] for c in tab.context.cookies() if c["name"] == "jobtrail_csrf")
    forged = tab.request.post(f"/jobs/{job['id']}/cancel", form={"csrf_token": token}, max_redirects=0)
    tokenless = tab.request.post(f"/jobs/{job['id']}/cancel", form={}, max_redirects=0)

    assert (forged.status, tokenless.status) == (403, 403)
    assert api.get(f"/v1/jobs/{job['id']}").json()["status"] in {"pending", "processing"}
    api.post(f"/v1/jobs/{job['id']}/cancel")


def test_the_overview_search_and_pages_work_and_fit_a_phone(
    tab,
    api: httpx.Client,
    key: str,
    tmp_path,
):
    expect = playwright.expect
    jobs = [create(api, params={"total": 30, "per_batch": 10}) for _ in range(3)]
    failing = create(api, params={"total": 30, "per_batch": 10, "fail_permanently_at": 1})
    for job in [*jobs, failing]:
        wait_until_final(api, job["id"])
    sign_in(tab, key)

    tab.click("nav.pages >> text=Overview")
    expect(tab.locator("svg.chart")).to_have_count(4)
    expect(tab.locator("svg.chart rect.ok").first).to_be_visible()
    expect(tab.locator("#verdict")).to_have_attribute("data-verdict", re.compile("healthy|degraded|unhealthy"))
    screenshot(tab, tmp_path, "overview.png", full_page=False)

    tab.goto("/jobs")
    tab.fill("input[name=q]", jobs[1]["id"][:8])
    tab.click("form.search button")
    expect(tab.locator(f'tr[data-job="{jobs[1]["id"]}"]')).to_be_visible()

    tab.goto("/jobs?limit=2")
    first_page = tab.locator("tr[data-job]").all_inner_texts()
    tab.click("a[data-next]")
    expect(tab).to_have_url(re.compile(r"cursor="))
    expect(tab.locator("tr[data-job]")).to_have_count(2)
    assert tab.locator("tr[data-job]").all_inner_texts() != first_page

    tab.set_viewport_size(PHONE)
    for path in ("/overview", "/jobs", f"/jobs/{jobs[0]['id']}", f"/jobs/{failing['id']}"):
        tab.goto(path)
        assert scroll_width(tab) <= PHONE["width"], path
