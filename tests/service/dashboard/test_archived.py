"""An archived job's page shows its tombstone (410) to whoever could see the job; to anyone
else it is the page of a job that does not exist."""

import uuid
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from service.archive.store import DirectoryStore
from tests.archiving import archive
from tests.service.api.conftest import auth
from tests.service.dashboard.conftest import Keys, create, sign_in

pytestmark = pytest.mark.anyio


async def test_the_page_of_an_archived_job_shows_its_tombstone_to_its_owner_and_an_auditor_only(
    browser: AsyncTestClient, keys: Keys, pool, tmp_path: Path
) -> None:
    job = await create(browser, keys.acme)
    await browser.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(keys.acme))
    stone = await archive(pool, DirectoryStore(tmp_path / "archive"), uuid.UUID(job["id"]))

    for key in (keys.acme, keys.auditor):
        await sign_in(browser, key)
        for path in (f"/jobs/{job['id']}", f"/jobs/{job['id']}/live"):
            page = await browser.get(path)
            assert page.status_code == 410, path
            assert "data-archived" in page.text and 'data-status="cancelled"' in page.text
            assert stone.chain_head.hex() in page.text and stone.archive_sha256.hex() in page.text
            assert stone.archive_name in page.text

    await sign_in(browser, keys.globex)
    page = await browser.get(f"/jobs/{job['id']}")
    assert page.status_code == 404 and "No such job" in page.text and stone.archive_name not in page.text
