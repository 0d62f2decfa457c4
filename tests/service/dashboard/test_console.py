"""The operator console: a job's actions by form, and who may use them."""

import re
import uuid
from datetime import UTC, datetime

import pytest
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from domain.commands import FailJob
from projections.log import Metadata
from service.dashboard.actions import CANCEL_REASON
from service.jobs.command_handler import handle
from tests.service.api.conftest import auth
from tests.service.dashboard.conftest import Keys, create, csrf_token, sign_in

pytestmark = pytest.mark.anyio


def offered(page_html: str) -> list[str]:
    return re.findall(r'data-confirm="(\w+)"', page_html)


async def status_of(browser: AsyncTestClient, key: str, job_id: str) -> str:
    return (await browser.get(f"/v1/jobs/{job_id}", headers=auth(key))).json()["status"]


async def test_the_owner_cancels_a_job_by_form_and_the_event_names_the_operators_key(
    browser: AsyncTestClient, keys: Keys
) -> None:
    job = (await create(browser, keys.acme))["id"]
    await sign_in(browser, keys.acme)
    page = await browser.get(f"/jobs/{job}")
    assert offered(page.text) == ["cancel"]  # pending: cancel, not retry

    done = await browser.post(f"/jobs/{job}/cancel", data={"csrf_token": csrf_token(page)}, follow_redirects=False)

    assert (done.status_code, done.headers["location"]) == (303, f"/jobs/{job}")
    history = (await browser.get(f"/v1/jobs/{job}/events", headers=auth(keys.acme))).json()["events"]
    created, cancelled = history
    assert cancelled["type"] == "JobCancelled" and cancelled["data"]["reason"] == CANCEL_REASON
    assert cancelled["provenance"]["actor"] == created["provenance"]["actor"]  # the same key, by the API
    assert cancelled["provenance"]["actor"].startswith("api-key:")
    after = (await browser.get(f"/jobs/{job}")).text
    assert 'data-status="cancelled"' in after and offered(after) == []


async def test_a_failed_job_is_retried_by_form(browser: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool) -> None:
    job = (await create(browser, keys.acme))["id"]
    await handle(pool, uuid.UUID(job), FailJob(at=datetime.now(UTC), reason="broken"), Metadata(actor="test"))
    await sign_in(browser, keys.acme)
    page = await browser.get(f"/jobs/{job}")
    assert offered(page.text) == ["retry"]

    await browser.post(f"/jobs/{job}/retry", data={"csrf_token": csrf_token(page)})

    document = (await browser.get(f"/v1/jobs/{job}", headers=auth(keys.acme))).json()
    assert (document["status"], document["requeues"]) == ("pending", 1)


@pytest.mark.parametrize("who", ["acme_read", "auditor"])
async def test_a_key_without_jobs_write_sees_no_action_and_its_forged_posts_are_refused(
    browser: AsyncTestClient, keys: Keys, who: str
) -> None:
    job = (await create(browser, keys.acme))["id"]
    await sign_in(browser, getattr(keys, who))
    page = await browser.get(f"/jobs/{job}")
    assert page.status_code == 200 and offered(page.text) == [] and 'id="actions"' in page.text

    with_token = await browser.post(f"/jobs/{job}/cancel", data={"csrf_token": csrf_token(page)})
    without_token = await browser.post(f"/jobs/{job}/cancel", data={})
    wrong_token = await browser.post(f"/jobs/{job}/cancel", data={"csrf_token": "forged"})

    assert [r.status_code for r in (with_token, without_token, wrong_token)] == [403, 403, 403]
    assert "Not allowed" in with_token.text and "Form expired" in without_token.text
    assert await status_of(browser, keys.acme, job) == "pending"


async def test_an_owner_cannot_act_on_another_owners_job_nor_make_a_move_the_lifecycle_forbids(
    browser: AsyncTestClient, keys: Keys
) -> None:
    theirs = (await create(browser, keys.globex))["id"]
    mine = (await create(browser, keys.acme))["id"]
    await sign_in(browser, keys.acme)
    token = csrf_token(await browser.get("/jobs"))

    other = await browser.post(f"/jobs/{theirs}/cancel", data={"csrf_token": token})
    illegal = await browser.post(f"/jobs/{mine}/retry", data={"csrf_token": token})

    assert other.status_code == 404 and await status_of(browser, keys.globex, theirs) == "pending"
    assert illegal.status_code == 409 and "cannot requeue a job that is pending" in illegal.text.lower()
    assert "signed in as <strong>acme</strong>" in illegal.text  # error pages keep the header


async def test_a_post_without_a_session_goes_back_to_the_sign_in_form(browser: AsyncTestClient, keys: Keys) -> None:
    job = (await create(browser, keys.acme))["id"]
    token = csrf_token(await browser.get("/"))

    response = await browser.post(f"/jobs/{job}/cancel", data={"csrf_token": token}, follow_redirects=False)

    assert (response.status_code, response.headers["location"]) == (303, "/")
    assert await status_of(browser, keys.acme, job) == "pending"
