"""The job list and the job page: tenants, filters, the live fragments, the diagram and the chain badge."""

import re
import uuid
from datetime import UTC, datetime

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from domain.commands import RecordBatch, StartRun
from domain.kinds import KindConfig, create_job
from domain.lifecycle import Status
from projections.chain import verify
from projections.log import Metadata, link, read_stream
from service.api.schemas import JobDocument
from service.dashboard.diagram import state_diagram
from service.dashboard.views import chain_badge
from service.jobs.command_handler import handle
from tests.service.api.conftest import auth
from tests.service.api.test_schedules import NIGHTLY
from tests.service.dashboard.conftest import Keys, create, csrf_token, sign_in

pytestmark = pytest.mark.anyio


def listed(page_html: str) -> set[str]:
    return set(re.findall(r'data-job="([0-9a-f-]{36})"', page_html))


def current_state(page_html: str) -> str:
    found = re.findall(r'class="state[^"]*\bcurrent\b[^"]*" data-state="(\w+)"', page_html)
    assert len(found) == 1, found
    return found[0]


async def test_the_list_shows_only_the_owners_jobs_and_an_auditor_sees_every_owners(
    browser: AsyncTestClient, keys: Keys
) -> None:
    mine = {(await create(browser, keys.acme))["id"] for _ in range(2)}
    theirs = (await create(browser, keys.globex))["id"]

    await sign_in(browser, keys.acme)
    assert listed((await browser.get("/jobs")).text) == mine
    assert listed((await browser.get("/jobs/rows")).text) == mine

    await sign_in(browser, keys.auditor)
    assert listed((await browser.get("/jobs")).text) == mine | {theirs}
    rows = (await browser.get("/jobs/rows")).text
    assert listed(rows) == mine | {theirs} and "<td>globex</td>" in rows  # the owner column, live too


async def test_another_owners_job_page_is_a_404_page_like_a_job_that_does_not_exist(
    browser: AsyncTestClient, keys: Keys
) -> None:
    theirs = (await create(browser, keys.globex))["id"]
    await sign_in(browser, keys.acme)

    for path in (f"/jobs/{theirs}", f"/jobs/{theirs}/live", f"/jobs/{uuid.uuid4()}"):
        response = await browser.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert "No such job" in response.text and theirs not in response.text


async def test_the_list_filters_by_status_and_kind_newest_first(browser: AsyncTestClient, keys: Keys) -> None:
    older, newer, cancelled = [(await create(browser, keys.acme))["id"] for _ in range(3)]
    assert (await browser.post(f"/v1/jobs/{cancelled}/cancel", headers=auth(keys.acme))).status_code == 200
    await sign_in(browser, keys.acme)

    pending = (await browser.get("/jobs", params={"status": "pending"})).text
    assert re.findall(r'data-job="([0-9a-f-]{36})"', pending) == [newer, older]
    assert listed((await browser.get("/jobs/rows", params={"status": "cancelled"})).text) == {cancelled}
    assert listed((await browser.get("/jobs", params={"kind": "no.such.kind"})).text) == set()


async def test_a_bad_filter_is_an_html_error_page(browser: AsyncTestClient, keys: Keys) -> None:
    await sign_in(browser, keys.acme)

    response = await browser.get("/jobs", params={"status": "sleeping"})

    assert response.status_code == 400 and response.headers["content-type"].startswith("text/html")


async def test_the_pages_need_a_sign_in(browser: AsyncTestClient, keys: Keys) -> None:
    job = (await create(browser, keys.acme))["id"]

    schedule = (await browser.post("/v1/schedules", json=NIGHTLY, headers=auth(keys.acme))).json()["id"]

    pages = ["/jobs", "/jobs/rows", f"/jobs/{job}", f"/jobs/{job}/live"]
    pages += ["/schedules", "/schedules/rows", f"/schedules/{schedule}", f"/schedules/{schedule}/jobs"]
    for path in pages:
        response = await browser.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/"), path
    token = csrf_token(await browser.get("/"))  # a valid form, from a browser that never signed in
    for change in ("pause", "resume"):
        response = await browser.post(
            f"/schedules/{schedule}/{change}", data={"csrf_token": token}, follow_redirects=False
        )
        assert (response.status_code, response.headers["location"]) == (303, "/"), change


async def test_the_job_page_shows_status_counters_timeline_with_provenance_and_a_verified_chain(
    browser: AsyncTestClient, keys: Keys
) -> None:
    job = (await create(browser, keys.acme, **{"X-Request-Id": "req-42"}))["id"]
    await sign_in(browser, keys.acme)

    page = (await browser.get(f"/jobs/{job}")).text

    assert 'data-status="pending"' in page and "JobCreated" in page
    assert "req-42" in page and "api-key:" in page
    assert 'data-chain="verified"' in page and "hash chain verified" in page
    assert current_state(page) == "pending"
    assert "data-live" in page  # pending: the page keeps polling


async def test_the_diagram_highlights_the_current_state_as_the_job_moves(browser: AsyncTestClient, keys: Keys) -> None:
    job = (await create(browser, keys.acme))["id"]
    assert (await browser.post(f"/v1/jobs/{job}/cancel", headers=auth(keys.acme))).status_code == 200
    await sign_in(browser, keys.acme)

    fragment = (await browser.get(f"/jobs/{job}/live")).text

    assert current_state(fragment) == "cancelled"
    assert "data-live" not in fragment  # final: polling stops


def test_the_diagram_draws_every_state_and_every_move_of_the_machine() -> None:
    svg = str(state_diagram(Status.PROCESSING))

    assert set(re.findall(r'data-state="(\w+)"', svg)) == {str(s) for s in Status}
    assert {"pending-processing", "processing-completed", "error-pending", "processing-processing"} <= set(
        re.findall(r'data-move="([\w-]+)"', svg)
    )
    assert current_state(svg) == "processing"


async def test_the_chain_badge_says_broken_for_a_tampered_copy_of_a_history(
    app: Litestar, browser: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    job = (await create(browser, keys.acme))["id"]
    assert (await browser.post(f"/v1/jobs/{job}/cancel", headers=auth(keys.acme))).status_code == 200
    async with pool.connection() as conn:
        links = [link(e) for e in await read_stream(conn, uuid.UUID(job))]
    tampered = [*links[:1], msgspec.structs.replace(links[1], data=msgspec.Raw(b'{"reason": "edited"}'))]

    intact, broken = chain_badge(verify(links)), chain_badge(verify(tampered))

    assert intact.ok and intact.label == "hash chain verified"
    assert not broken.ok and broken.label == "hash chain broken" and "version 2" in broken.detail
    html = app.template_engine.get_template("_job_live.html").render(
        job=msgspec.convert((await browser.get(f"/v1/jobs/{job}", headers=auth(keys.acme))).json(), JobDocument),
        duration_s=None,
        live=False,
        events=[],
        badge=broken,
        diagram=state_diagram(Status.CANCELLED),
    )
    assert 'data-chain="broken"' in html and "hash chain broken" in html


async def test_the_filter_forms_empty_fields_mean_any_and_the_page_polls_a_url_that_answers(
    browser: AsyncTestClient, keys: Keys
) -> None:
    job = (await create(browser, keys.acme))["id"]
    await sign_in(browser, keys.acme)

    page = await browser.get("/jobs", params={"status": "", "kind": ""})
    poll = re.search(r'data-poll="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    rows = await browser.get(poll)

    assert page.status_code == 200 and listed(page.text) == {job}
    assert rows.status_code == 200 and listed(rows.text) == {job}


async def test_tenant_supplied_text_is_escaped_on_the_job_page(browser: AsyncTestClient, keys: Keys) -> None:
    job = (await create(browser, keys.acme, **{"Idempotency-Key": "<script>alert(1)</script>"}))["id"]
    await sign_in(browser, keys.acme)

    page = (await browser.get(f"/jobs/{job}")).text

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page


async def test_a_poll_gets_nothing_when_the_job_has_not_moved_and_only_the_new_events_when_it_has(
    browser: AsyncTestClient, keys: Keys
) -> None:
    job = (await create(browser, keys.acme))["id"]
    await sign_in(browser, keys.acme)
    unchanged = await browser.get(f"/jobs/{job}/live", params={"since": 1})
    assert (await browser.post(f"/v1/jobs/{job}/cancel", headers=auth(keys.acme))).status_code == 200

    changed = await browser.get(f"/jobs/{job}/live", params={"since": 1})

    assert unchanged.status_code == 204 and unchanged.content == b""
    assert changed.status_code == 200 and 'data-version="2"' in changed.text
    assert re.findall(r'<tr data-version="(\d+)"', changed.text) == ["2"]
    assert 'data-chain="verified"' in changed.text  # the chain is still checked whole


async def test_a_long_history_shows_its_latest_events_and_all_of_them_on_request(
    browser: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    stream_id, now, meta = uuid.uuid4(), datetime.now(UTC), Metadata(actor="test")
    await handle(pool, stream_id, create_job("demo.count", KindConfig(max_runs=1000), owner="acme", at=now), meta)
    await handle(pool, stream_id, StartRun(at=now, run=1), meta)
    for run in range(1, 101):  # 2 + 2 x 100 = 202 events
        await handle(pool, stream_id, RecordBatch(at=now, run=run, results=1, has_more=True), meta)
    await sign_in(browser, keys.acme)

    latest = (await browser.get(f"/jobs/{stream_id}")).text
    everything = (await browser.get(f"/jobs/{stream_id}", params={"all": "true"})).text

    assert re.findall(r'<tr data-version="(\d+)"', latest) == [str(v) for v in range(202, 2, -1)]  # newest first
    assert "2 earlier events not shown" in latest and 'data-chain="verified"' in latest
    assert len(re.findall(r'<tr data-version="', everything)) == 202 and "earlier events" not in everything


def test_the_diagram_names_each_move_once_where_it_arrives_so_no_two_labels_share_a_place() -> None:
    svg = str(state_diagram(None))

    places = re.findall(r'<text class="trigger[^"]*"[^>]*? x="(-?\d+)" y="(-?\d+)"', svg)
    assert len(places) == len(set(places))
    assert re.findall(r'data-arrives="cancelled"[^>]*>([^<]+)<', svg) == ["cancel"]
    assert re.findall(r'data-arrives="pending"[^>]*>([^<]+)<', svg) == ["requeue"]
