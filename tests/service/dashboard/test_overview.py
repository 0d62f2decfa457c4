"""The overview page and its charts, search by id, and the job list's pages."""

import re
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from projections.runner import catch_up
from projections.stats import FINISHED_SERIES, StatsProjection
from service.dashboard.charts import Bar, Segment, bar_chart, nice_ceiling
from service.dashboard.overview import HOUR, buckets
from service.dashboard.search import IdRange, Unsearchable, WholeId, parse
from tests.service.api.conftest import auth
from tests.service.dashboard.conftest import Keys, create, sign_in

pytestmark = pytest.mark.anyio


def listed(page_html: str) -> list[str]:
    return re.findall(r'data-job="([0-9a-f-]{36})"', page_html)


async def test_the_overview_draws_its_trends_as_inline_svg_with_the_verdict_and_the_figures(
    browser: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    jobs = [(await create(browser, keys.acme))["id"] for _ in range(3)]
    await browser.post(f"/v1/jobs/{jobs[0]}/cancel", headers=auth(keys.acme))
    async with pool.connection() as conn:
        await catch_up(conn, StatsProjection())
    await sign_in(browser, keys.acme)

    page = await browser.get("/overview")

    assert page.status_code == 200
    assert len(re.findall(r'<svg class="chart"', page.text)) == 4  # throughput and failure rate, hour and day
    assert re.search(r'<rect class="ok" [^>]+><title>[^<]*1 finished well', page.text)  # the cancelled job
    assert 'data-verdict="healthy"' in page.text and "cdn" not in page.text.lower()
    pending = re.search(r'data-status-row="pending"><td>.*?</td><td>(\d+)</td><td>(\d+)</td>', page.text)
    assert pending and pending.groups() == ("2", "2")
    assert 'data-figure="outbox"' in page.text and 'data-figure="lag"' in page.text


async def test_the_overview_needs_a_sign_in(browser: AsyncTestClient) -> None:
    response = await browser.get("/overview", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/")


async def test_the_series_is_read_from_the_finished_index(pool: AsyncConnectionPool) -> None:
    since = datetime.now(UTC) - timedelta(hours=1)
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned anyway
        for owner in (None, "acme"):
            params = {"origin": since, "step": timedelta(minutes=5), "owner": owner}
            plan = await (await conn.execute("EXPLAIN " + FINISHED_SERIES, params)).fetchall()
            text = "\n".join(row[0] for row in plan)
            assert "job_stats_finished" in text or "job_stats_owner_finished" in text, text


def test_every_bucket_of_the_window_is_drawn_the_empty_ones_too() -> None:
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    rows = [(now - timedelta(minutes=60), 4, 1), (now - timedelta(minutes=5), 2, 0)]

    filled = buckets(HOUR, now, rows)

    assert len(filled) == 12 and filled[0].start == now - timedelta(hours=1)
    assert [(b.finished, b.failed) for b in filled] == [(4, 1)] + [(0, 0)] * 10 + [(2, 0)]


def test_a_chart_scales_its_bars_to_a_round_ceiling_and_stacks_their_segments() -> None:
    svg = str(bar_chart("t", [Bar("a", [Segment("ok", 3, "well"), Segment("failed", 1, "failed")]), Bar("b", [])]))

    assert nice_ceiling(4) == 5 and nice_ceiling(0.3) == 0.5 and nice_ceiling(0) == 1
    assert svg.count("<rect") == 2 and 'class="ok"' in svg and 'class="failed"' in svg
    assert "<title>a: 3 well</title>" in svg and ">5</text>" in svg  # the axis's top tick


def test_a_search_takes_a_whole_id_or_a_prefix_of_eight_hex_digits() -> None:
    assert parse("0123ABCD") == IdRange(
        "0123abcd",
        low=UUID("0123abcd-0000-0000-0000-000000000000"),
        high=UUID("0123abcd-ffff-ffff-ffff-ffffffffffff"),
    )
    assert isinstance(parse("0123-abcd-ef"), IdRange)
    assert parse("0123abcd-0000-4000-8000-000000000001") == WholeId(UUID("0123abcd-0000-4000-8000-000000000001"))
    assert all(isinstance(parse(text), Unsearchable) for text in ("0123abc", "xyz12345", "0" * 33, " "))


async def test_a_prefix_finds_the_viewers_jobs_and_a_whole_id_opens_its_page(
    browser: AsyncTestClient, keys: Keys
) -> None:
    mine = (await create(browser, keys.acme))["id"]
    theirs = (await create(browser, keys.globex))["id"]
    await sign_in(browser, keys.acme)

    found = await browser.get("/jobs", params={"q": mine[:8]})
    hidden = await browser.get("/jobs", params={"q": theirs[:8]})
    short = await browser.get("/jobs", params={"q": mine[:7]})
    whole = await browser.get("/jobs", params={"q": mine.upper()}, follow_redirects=False)

    assert found.status_code == 200 and listed(found.text) == [mine] and "data-poll" not in found.text
    assert listed(hidden.text) == []
    assert short.status_code == 422 and "at least 8 hex digits" in short.text
    assert (whole.status_code, whole.headers["location"]) == (303, f"/jobs/{mine}")


async def test_the_list_pages_by_keyset_with_a_next_link_that_keeps_the_filters(
    browser: AsyncTestClient, keys: Keys
) -> None:
    oldest, middle, newest, cancelled = [(await create(browser, keys.acme))["id"] for _ in range(4)]
    await browser.post(f"/v1/jobs/{cancelled}/cancel", headers=auth(keys.acme))
    await sign_in(browser, keys.acme)

    first = await browser.get("/jobs", params={"status": "pending", "limit": 2})
    next_url = re.search(r'href="([^"]+)" data-next', first.text).group(1).replace("&amp;", "&")
    await create(browser, keys.acme)  # a job created meanwhile does not move the next page
    second = await browser.get(next_url)

    assert listed(first.text) == [newest, middle]
    assert "status=pending" in next_url and "limit=2" in next_url and "cursor=" in next_url
    assert listed(second.text) == [oldest] and "data-next" not in second.text and "data-first" in second.text
    poll = re.search(r'data-poll="([^"]+)"', second.text).group(1).replace("&amp;", "&")
    assert listed((await browser.get(poll)).text) == [oldest]  # the page's poll stays on its page
