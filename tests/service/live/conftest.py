"""The live tests' feed, and a raw event row they insert behind the store's back."""

import json
from collections.abc import AsyncIterator

import pytest

from service.live.event_feed import EventFeed

INSERT = "INSERT INTO events (stream_id, version, type, data) VALUES (%(stream_id)s, 1, 'JobCreated', %(data)s::jsonb)"
DATA = json.dumps({"type": "JobCreated", "at": "2026-01-01T00:00:00Z", "owner": "o", "kind": "k", "max_runs": 1})


@pytest.fixture
async def feed(database_url: str) -> AsyncIterator[EventFeed]:
    """A feed whose fallback wakes every stream far more often than a keep-alive is due."""
    feed = EventFeed(database_url, fallback_s=0.02)
    await feed.start()
    try:
        yield feed
    finally:
        await feed.close()
