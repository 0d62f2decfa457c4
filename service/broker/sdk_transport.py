"""How the qstash SDK reaches the local broker: httpx, with the broker's HTTP client beneath.

The relay publishes every run through the real SDK, which sends through an httpx client
it makes itself. httpx's default transport (httpcore and h11, both pure Python) was
most of the CPU a publish cost, and a publish was the largest single cost of a
zero-delay continuation. To the broker `serve` runs, on loopback, that transport
adds nothing that is needed (proxies, HTTP/2, compression), so the SDK's client is
given this one instead: httpx still builds each request and the SDK still reads each
answer, and the bytes go through service/broker/http_client.py. Real QStash keeps the
SDK's own client, with its proxy and TLS settings.

That client sends a request once more when a kept-alive connection turns out closed
before any answer: a publish may then reach the broker twice, and its deduplication id
makes the second a no-op, as with QStash.
"""

import logging

import httpx
from qstash import AsyncQStash

from service.broker.http_client import HttpClient, HttpError

logger = logging.getLogger("jobtrail.broker")

# The client writes these itself; an answer is never compressed if none is accepted.
_WRITTEN_BY_CLIENT = frozenset({"host", "content-length", "accept-encoding"})
# The broker's answers are small; a DLQ page is the largest.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT_S = 60.0


class BrokerTransport(httpx.AsyncBaseTransport):
    def __init__(self, client: HttpClient | None = None) -> None:
        self._client = client or HttpClient(max_body=MAX_ANSWER_BYTES)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = [(name, value) for name, value in request.headers.multi_items() if name not in _WRITTEN_BY_CLIENT]
        timeout_s = request.extensions.get("timeout", {}).get("read") or DEFAULT_TIMEOUT_S
        try:
            answer = await self._client.request(
                request.method, str(request.url), headers=headers, body=await request.aread(), timeout_s=timeout_s
            )
        except TimeoutError:
            raise httpx.ReadTimeout(f"no answer within {timeout_s:g} s", request=request) from None
        except HttpError as error:
            raise httpx.NetworkError(str(error), request=request) from None
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body, request=request)

    async def aclose(self) -> None:
        await self._client.aclose()


def use_broker_transport(client: AsyncQStash) -> None:
    """From now on `client` sends through a BrokerTransport (for the local broker `serve` runs only).

    The SDK takes no client or transport of its own, so its httpx client is replaced; if
    a release of the SDK keeps it elsewhere, the SDK's own is left in place and works.
    """
    http = getattr(client, "http", None)
    current = getattr(http, "_client", None)
    if not isinstance(current, httpx.AsyncClient):
        logger.info("the qstash SDK keeps no httpx client where expected; it keeps its own transport")
        return
    http._client = httpx.AsyncClient(timeout=current.timeout, transport=BrokerTransport())  # type: ignore[union-attr]
