"""The qstash SDK through BrokerTransport: what `jobtrail serve` uses with its in-process broker."""

import asyncio
import json

import httpx
import pytest
from qstash import AsyncQStash
from qstash.errors import QStashError
from qstash.message import PublishResponse

from service.broker.sdk_transport import BrokerTransport, use_broker_transport
from tests.service.broker.conftest import read_body, serve
from tests.service.broker.scripted_server import serving, unused_port

pytestmark = pytest.mark.anyio


@pytest.fixture
def sdk(broker) -> AsyncQStash:
    use_broker_transport(broker.client)  # the fixture closes the client it now has
    return broker.client


async def test_the_sdk_publishes_and_reads_back_through_it_and_the_delivery_arrives(sdk, destination) -> None:
    published = await sdk.message.publish_json(url=destination.url("/hook"), body={"job": 7}, delay="300s")

    message = await sdk.message.get(published.message_id)
    assert message.message_id == published.message_id
    assert message.url == destination.url("/hook")
    await sdk.message.cancel(published.message_id)
    assert (await sdk.dlq.list()).messages == []

    again = await sdk.message.publish_json(url=destination.url("/now"), body={"job": 8})
    [delivery] = await destination.wait_for("/now", 1)
    assert delivery.message_id == again.message_id
    assert json.loads(delivery.body) == {"job": 8}


async def test_the_requests_carry_one_host_and_one_length_and_ask_for_no_compression() -> None:
    answer = b'{"messageId": "msg_1"}'
    head = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(answer)

    async def script(reader, writer):
        await server.answer(reader, writer, head + answer)

    async with serving(script) as (server, port):
        client = AsyncQStash("token", retry=False, base_url=f"http://127.0.0.1:{port}")
        use_broker_transport(client)
        try:
            published = await client.message.publish(url="http://example.test/run", body="abc")
        finally:
            await client.http._client.aclose()

    assert isinstance(published, PublishResponse) and published.message_id == "msg_1"
    [request] = server.requests
    head, body = request.split(b"\r\n\r\n")
    names = [line.split(b":")[0].lower() for line in head.split(b"\r\n")[1:]]
    assert names.count(b"host") == 1 and names.count(b"content-length") == 1
    assert b"accept-encoding" not in names  # httpx's own transport would ask for gzip
    assert head.startswith(b"POST /v2/publish/http://example.test/run HTTP/1.1\r\n")
    assert b"\r\nauthorization: Bearer token\r\n" in head
    assert body == b"abc"


async def test_a_refusal_by_the_broker_reaches_the_sdk_as_its_own_error(broker) -> None:
    client = AsyncQStash("not-the-token", retry=False, base_url=broker.url)
    use_broker_transport(client)
    try:
        with pytest.raises(QStashError, match="status: 401"):
            await client.message.get("msg_anything")
    finally:
        await client.http._client.aclose()


async def test_no_broker_listening_is_a_network_error() -> None:
    client = AsyncQStash("token", retry=False, base_url=f"http://127.0.0.1:{unused_port()}")
    use_broker_transport(client)
    with pytest.raises(httpx.NetworkError):
        await client.message.get("msg_1")


async def test_a_broker_that_never_answers_is_a_read_timeout() -> None:
    hung_up = asyncio.Event()

    async def script(reader, writer):
        await server.read_request(reader)
        await reader.read()  # no answer, until the client gives up and hangs up
        hung_up.set()

    async with serving(script) as (server, port), httpx.AsyncClient(transport=BrokerTransport(), timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"http://127.0.0.1:{port}/v2/keys")
        await asyncio.wait_for(hung_up.wait(), 5)  # the timed-out connection was closed


async def test_answers_are_read_whole_whatever_their_framing() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    async with serve(_Echo()) as url, httpx.AsyncClient(transport=BrokerTransport()) as http:
        answer = await http.post(f"{url}/echo", content=b"x" * 100_000)
        assert answer.status_code == 200 and answer.content == b"x" * 100_000

    async def script(reader, writer):
        await server.answer(reader, writer, chunked)

    async with serving(script) as (server, port), httpx.AsyncClient(transport=BrokerTransport()) as http:
        assert (await http.get(f"http://127.0.0.1:{port}/")).content == b"abcde"


class _Echo:
    """An ASGI app that answers a request with its own body."""

    async def __call__(self, scope, receive, send) -> None:
        body = await read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})
