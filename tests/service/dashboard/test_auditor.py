"""The dashboard and the API tell an `audit:read` key the same thing: every owner's jobs."""

import re

import pytest
from litestar.testing import AsyncTestClient

from tests.service.api.conftest import auth
from tests.service.dashboard.conftest import Keys, create, sign_in

pytestmark = pytest.mark.anyio


async def test_an_auditor_sees_the_same_jobs_in_the_dashboard_and_the_api(browser: AsyncTestClient, keys: Keys) -> None:
    jobs = {(await create(browser, keys.acme))["id"], (await create(browser, keys.globex))["id"]}
    await sign_in(browser, keys.auditor)

    page = (await browser.get("/jobs")).text
    api = await browser.get("/v1/jobs", headers=auth(keys.auditor))

    assert set(re.findall(r'data-job="([0-9a-f-]{36})"', page)) == jobs
    assert api.status_code == 200, api.text
    assert {job["id"] for job in api.json()["jobs"]} == jobs
    for job_id in jobs:
        assert (await browser.get(f"/jobs/{job_id}")).status_code == 200
        assert (await browser.get(f"/v1/jobs/{job_id}", headers=auth(keys.auditor))).status_code == 200
