"""The schedule pages: tenants, the next fires and last jobs, pause and resume by form."""

import re
import uuid

import pytest
from litestar.testing import AsyncTestClient

from tests.service.api.conftest import auth
from tests.service.api.test_schedules import NIGHTLY, create_schedule
from tests.service.dashboard.conftest import Keys, csrf_token, sign_in

pytestmark = pytest.mark.anyio


def listed(page_html: str) -> set[str]:
    return set(re.findall(r'data-schedule="([0-9a-f-]{36})"', page_html))


def status(page_html: str) -> str:
    return re.findall(r'data-status="(\w+)"', page_html)[0]


async def test_the_list_shows_only_the_owners_schedules_and_an_auditor_sees_every_owners(
    browser: AsyncTestClient, keys: Keys
) -> None:
    mine = {(await create_schedule(browser, keys.acme))["id"] for _ in range(2)}
    theirs = (await create_schedule(browser, keys.globex))["id"]

    await sign_in(browser, keys.acme)
    page = await browser.get("/schedules")
    assert listed(page.text) == mine
    assert listed((await browser.get("/schedules/rows")).text) == mine
    assert 'href="/schedules"' in page.text  # the navigation
    assert "Europe/Berlin" in page.text and "02:30" in page.text  # its zone, its cron in words, its next fire

    await sign_in(browser, keys.auditor)
    rows = (await browser.get("/schedules/rows")).text
    assert listed(rows) == mine | {theirs} and "<td>globex</td>" in rows


async def test_a_schedule_page_shows_its_next_five_fires_and_the_jobs_it_created(
    browser: AsyncTestClient, keys: Keys
) -> None:
    created = await create_schedule(browser, keys.acme, {**NIGHTLY, "overlap": "allow"})
    path = f"/v1/schedules/{created['id']}"
    made = [(await browser.post(f"{path}/trigger", headers=auth(keys.acme))).json()["job"]["id"] for _ in range(2)]
    api = (await browser.get(path, headers=auth(keys.acme))).json()
    await sign_in(browser, keys.acme)

    page = (await browser.get(f"/schedules/{created['id']}")).text
    jobs = (await browser.get(f"/schedules/{created['id']}/jobs")).text

    fires = re.findall(r'data-fire="([^"]+)"', page)
    assert fires == [fire["utc"].replace("Z", "+00:00") for fire in api["next_fires"]] and len(fires) == 5
    assert api["description"] in page
    assert re.findall(r'data-job="([0-9a-f-]{36})"', jobs) == made[::-1]  # newest first, polled
    for job_id in made:
        assert f'href="/jobs/{job_id}"' in page
    assert 'data-status="pending"' in jobs


async def test_another_owners_schedule_is_a_404_page_like_one_that_does_not_exist(
    browser: AsyncTestClient, keys: Keys
) -> None:
    theirs = (await create_schedule(browser, keys.globex))["id"]
    await sign_in(browser, keys.acme)
    token = csrf_token(await browser.get("/schedules"))

    for path in (f"/schedules/{theirs}", f"/schedules/{theirs}/jobs", f"/schedules/{uuid.uuid4()}"):
        response = await browser.get(path)
        assert response.status_code == 404, path
        assert "No such schedule" in response.text and theirs not in response.text
    paused = await browser.post(f"/schedules/{theirs}/pause", data={"csrf_token": token}, follow_redirects=False)
    assert paused.status_code == 404
    assert (await browser.get(f"/v1/schedules/{theirs}", headers=auth(keys.globex))).json()["status"] == "active"


async def test_pause_then_resume_by_form_changes_its_status(browser: AsyncTestClient, keys: Keys) -> None:
    schedule_id = (await create_schedule(browser, keys.acme))["id"]
    await sign_in(browser, keys.acme)
    page = await browser.get(f"/schedules/{schedule_id}")
    assert status(page.text) == "active" and 'data-action="pause"' in page.text
    woken = browser.app.state.event_feed.schedules_changed  # the keeper that brings QStash in line
    woken.clear()

    paused = await browser.post(
        f"/schedules/{schedule_id}/pause", data={"csrf_token": csrf_token(page)}, follow_redirects=False
    )
    assert (paused.status_code, paused.headers["location"]) == (303, f"/schedules/{schedule_id}")
    assert woken.is_set()
    page = await browser.get(f"/schedules/{schedule_id}")
    assert status(page.text) == "paused" and 'data-action="resume"' in page.text
    assert "None while it is paused" in page.text
    events = (await browser.get(f"/v1/schedules/{schedule_id}/events", headers=auth(keys.acme))).json()["events"]
    assert events[-1]["type"] == "SchedulePaused" and events[-1]["provenance"]["actor"].startswith("api-key:")

    resumed = await browser.post(
        f"/schedules/{schedule_id}/resume", data={"csrf_token": csrf_token(page)}, follow_redirects=False
    )
    assert resumed.status_code == 303
    assert status((await browser.get(f"/schedules/{schedule_id}")).text) == "active"
    assert (await browser.get(f"/v1/schedules/{schedule_id}", headers=auth(keys.acme))).json()["status"] == "active"


async def test_a_pause_without_the_forms_token_is_refused(browser: AsyncTestClient, keys: Keys) -> None:
    schedule_id = (await create_schedule(browser, keys.acme))["id"]
    await sign_in(browser, keys.acme)

    for data in ({}, {"csrf_token": "forged"}):
        response = await browser.post(f"/schedules/{schedule_id}/pause", data=data, follow_redirects=False)
        assert response.status_code == 403 and "Form expired" in response.text

    assert (await browser.get(f"/v1/schedules/{schedule_id}", headers=auth(keys.acme))).json()["status"] == "active"


async def test_an_auditor_sees_a_schedule_but_cannot_pause_it(browser: AsyncTestClient, keys: Keys) -> None:
    schedule_id = (await create_schedule(browser, keys.acme))["id"]
    await sign_in(browser, keys.auditor)

    page = await browser.get(f"/schedules/{schedule_id}")
    assert page.status_code == 200 and status(page.text) == "active"
    assert "data-action" not in page.text  # no pause or resume button
    response = await browser.post(
        f"/schedules/{schedule_id}/pause", data={"csrf_token": csrf_token(page)}, follow_redirects=False
    )

    assert response.status_code == 403 and "Read-only key" in response.text
    assert (await browser.get(f"/v1/schedules/{schedule_id}", headers=auth(keys.acme))).json()["status"] == "active"


async def test_a_read_only_owners_key_sees_no_buttons_and_is_refused(browser: AsyncTestClient, keys: Keys) -> None:
    schedule_id = (await create_schedule(browser, keys.acme))["id"]
    await sign_in(browser, keys.acme_read)

    page = await browser.get(f"/schedules/{schedule_id}")
    assert page.status_code == 200 and "data-action" not in page.text
    response = await browser.post(
        f"/schedules/{schedule_id}/pause", data={"csrf_token": csrf_token(page)}, follow_redirects=False
    )
    assert response.status_code == 403
