"""A metric read back from the app's `/metrics`, as Prometheus would scrape it."""

from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


async def scraped(client: AsyncTestClient, name: str) -> list[Sample]:
    text = (await client.get("/metrics")).text
    return [
        sample for family in text_string_to_metric_families(text) for sample in family.samples if sample.name == name
    ]


async def appends_counted(client: AsyncTestClient) -> float:
    (counted,) = await scraped(client, "jobtrail_event_append_seconds_count")
    return counted.value
