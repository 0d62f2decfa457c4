"""The app as QStash reaches it: API only, checking signatures against PUBLIC_URL."""

import pytest
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import Settings

PUBLIC_URL = "http://jobtrail.test"


@pytest.fixture
async def client(database_url, tmp_path):
    settings = Settings(database_url=database_url, data_dir=tmp_path, public_url=PUBLIC_URL)
    async with AsyncTestClient(app=create_app(settings, deliveries=False)) as client:
        yield client
