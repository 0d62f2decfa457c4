"""The QStash client the service uses: quick to give up, and never retrying on its own.

The SDK's defaults wait up to 600 s for an answer and retry five times with backoff,
about 30 s of retrying before an unreachable QStash is even reported. Every caller here
has a retry of its own that outlives an outage (the outbox keeps each run until QStash
takes it, the sweep runs again on its schedule), so the client makes one attempt,
bounded by `timeout_s` in each phase (connect, send, read).
"""

import httpx
from qstash import AsyncQStash

from service.broker.sdk_transport import use_broker_transport

TIMEOUT_S = 5.0


def qstash_client(token: str, base_url: str, *, local_broker: bool, timeout_s: float = TIMEOUT_S) -> AsyncQStash:
    """A client of QStash at `base_url`; to the local broker `serve` runs, through its own transport."""
    client = AsyncQStash(token, retry=False, base_url=base_url)
    # The SDK takes no timeout; its httpx client is where it keeps one.
    client.http._client.timeout = httpx.Timeout(timeout_s)
    if local_broker:
        use_broker_transport(client)  # keeps the timeout set above
    return client


async def close_client(client: AsyncQStash) -> None:
    """The SDK has no close of its own: close the httpx client it keeps (and its transport)."""
    http = getattr(getattr(client, "http", None), "_client", None)
    if isinstance(http, httpx.AsyncClient):
        await http.aclose()
