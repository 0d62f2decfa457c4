"""The broker's HTTP/1.1 client against real sockets: a scripted asyncio server answers
byte for byte as servers do, well and badly."""

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.broker.http_client import HttpClient, HttpError
from tests.service.broker.scripted_server import OK, serving, unused_port

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    client = HttpClient(max_body=64)
    try:
        yield client
    finally:
        await client.aclose()


async def get(client: HttpClient, port: int, path: str = "/", timeout_s: float = 5, scheme: str = "http"):
    return await client.request("GET", f"{scheme}://127.0.0.1:{port}{path}", headers=[], body=b"", timeout_s=timeout_s)


async def test_a_request_goes_out_as_given_and_the_answer_comes_back_whole(client: HttpClient) -> None:
    async def script(reader, writer):
        await server.answer(
            reader, writer, b"HTTP/1.1 201 Created\r\nX-Trace: a\r\nx-trace: b\r\nContent-Length: 5\r\n\r\nhello"
        )

    async with serving(script) as (server, port):
        response = await client.request(
            "POST",
            f"http://127.0.0.1:{port}/qstash/run?x=1",
            headers=[("Upstash-Retried", "0"), ("X-Many", "1"), ("X-Many", "2")],
            body=b'{"run":1}',
            timeout_s=5,
        )
    assert response.status == 201
    assert response.headers == [("X-Trace", "a"), ("x-trace", "b"), ("Content-Length", "5")]
    assert response.body == b"hello"
    assert server.requests == [
        b"POST /qstash/run?x=1 HTTP/1.1\r\n"
        + f"Host: 127.0.0.1:{port}\r\n".encode()
        + b'Upstash-Retried: 0\r\nX-Many: 1\r\nX-Many: 2\r\nContent-Length: 9\r\n\r\n{"run":1}'
    ]


async def test_chunked_and_close_delimited_bodies_are_read_to_their_end(client: HttpClient) -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        b"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\nuntil the end",
    ]

    async def script(reader, writer):
        await server.answer(reader, writer, answers[server.connections - 1])

    async with serving(script) as (server, port):
        chunked = await get(client, port)
        until_close = await get(client, port)
    assert (chunked.status, chunked.body) == (200, b"abcde")
    assert (until_close.status, until_close.body) == (500, b"until the end")


async def test_a_connection_is_kept_alive_and_reused(client: HttpClient) -> None:
    async def script(reader, writer):
        for _ in range(3):
            await server.answer(reader, writer, OK)

    async with serving(script) as (server, port):
        statuses = [(await get(client, port)).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert server.connections == 1


async def test_a_connection_the_server_closed_while_idle_is_replaced_and_the_request_sent_once_more(
    client: HttpClient,
) -> None:
    async def script(reader, writer):  # the first connection ends as the second request arrives
        await server.answer(reader, writer, OK)
        if server.connections == 1:
            await server.read_request(reader)

    async with serving(script) as (server, port):
        first = await get(client, port, "/first")
        second = await get(client, port, "/second")
    assert (first.status, second.status) == (200, 200)
    assert server.connections == 2
    assert [request.split(b" ")[1] for request in server.requests] == [b"/first", b"/second", b"/second"]


async def test_an_answer_cut_off_in_the_middle_is_an_error(client: HttpClient) -> None:
    async def script(reader, writer):
        await server.answer(reader, writer, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part")

    async with serving(script) as (server, port):
        with pytest.raises(HttpError, match="middle of its answer"):
            await get(client, port)


async def test_no_answer_in_time_is_a_timeout_and_the_connection_is_not_reused(client: HttpClient) -> None:
    async def script(reader, writer):
        await server.read_request(reader)
        if server.connections == 1:
            await reader.read()  # never answers: waits until the client gives up and hangs up
            return
        writer.write(OK)
        await writer.drain()

    async with serving(script) as (server, port):
        with pytest.raises(TimeoutError):
            await get(client, port, timeout_s=0.2)
        assert (await get(client, port)).status == 200
    assert server.connections == 2


async def test_a_body_longer_than_the_limit_is_cut_and_the_connection_stays_usable(client: HttpClient) -> None:
    async def script(reader, writer):
        for body in (b"x" * 1000, b"next"):
            await server.answer(reader, writer, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    async with serving(script) as (server, port):
        long = await get(client, port)
        after = await get(client, port)
    assert long.body == b"x" * 64
    assert after.body == b"next"
    assert server.connections == 1


async def test_an_interim_answer_is_skipped_for_the_final_one(client: HttpClient) -> None:
    async def script(reader, writer):
        await server.answer(reader, writer, b"HTTP/1.1 100 Continue\r\n\r\n" + OK)

    async with serving(script) as (server, port):
        response = await get(client, port)
    assert (response.status, response.body) == (200, b"ok")


async def test_garbage_for_an_answer_is_an_error(client: HttpClient) -> None:
    async def script(reader, writer):
        await server.answer(reader, writer, b"SMTP ready\r\n\r\n")

    async with serving(script) as (server, port):
        with pytest.raises(HttpError, match="invalid HTTP answer"):
            await get(client, port)


async def test_what_cannot_be_sent_is_refused_before_anything_is_sent(client: HttpClient) -> None:
    async def script(reader, writer):
        await server.read_request(reader)

    async with serving(script) as (server, port):
        with pytest.raises(HttpError, match="line break"):
            await client.request(
                "POST", f"http://127.0.0.1:{port}/", headers=[("X-A", "1\r\nX-Injected: 2")], body=b"", timeout_s=5
            )
        with pytest.raises(HttpError, match="cannot deliver"):
            await client.request("POST", f"ftp://127.0.0.1:{port}/", headers=[], body=b"", timeout_s=5)
    assert server.connections == 0


async def test_a_refused_connection_is_an_error(client: HttpClient) -> None:
    with pytest.raises(HttpError, match="cannot connect"):
        await get(client, unused_port())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_https_destinations_are_reached_over_tls_and_their_certificate_is_checked(certificate) -> None:
    cert, key = certificate
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)

    async def script(reader, writer):
        await server.answer(reader, writer, OK)

    trusting = HttpClient(ssl_context=ssl.create_default_context(cafile=str(cert)))
    untrusting = HttpClient()
    try:
        async with serving(script, tls=served) as (server, port):
            assert (await get(trusting, port, scheme="https")).body == b"ok"
            with pytest.raises(HttpError, match="cannot connect"):
                await get(untrusting, port, scheme="https")
    finally:
        await trusting.aclose()
        await untrusting.aclose()
