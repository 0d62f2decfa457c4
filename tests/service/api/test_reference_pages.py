"""The OpenAPI pages load nothing from another host: Swagger UI's files are served by jobtrail."""

import re

import pytest
from litestar.testing import AsyncTestClient

pytestmark = pytest.mark.anyio

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


async def test_swagger_loads_only_files_jobtrail_serves(client: AsyncTestClient) -> None:
    page = await client.get("/schema/swagger")

    assert page.status_code == 200
    assets = ASSET.findall(page.text)
    assert {"/swagger-ui/swagger-ui-bundle.js", "/swagger-ui/swagger-ui.css"} <= set(assets)
    for url in assets:
        assert url.startswith("/"), url
        fetched = await client.get(url)
        assert fetched.status_code == 200 and fetched.content, url
    assert "//" not in "".join(assets)


async def test_swagger_is_the_schema_root_and_scalar_and_redoc_lead_to_it(client: AsyncTestClient) -> None:
    root = await client.get("/schema")
    scalar = await client.get("/schema/scalar", follow_redirects=False)
    redoc = await client.get("/schema/redoc", follow_redirects=False)

    assert "/swagger-ui/swagger-ui-bundle.js" in root.text
    assert (scalar.status_code, scalar.headers["location"]) == (302, "/schema/swagger")
    assert (redoc.status_code, redoc.headers["location"]) == (302, "/schema/swagger")
