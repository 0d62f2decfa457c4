"""The real `jobtrail serve` answers 431 to a request head over 64 KiB or 100 fields, at once, and
serves ordinary requests (bodies larger than the bound, long keep-alive connections) as before."""

import json
import select
import socket
import time

import httpx

from tests.e2e.conftest import Service

MIB = 1024 * 1024


def connect(service: Service) -> socket.socket:
    return socket.create_connection(("127.0.0.1", service.port), timeout=10)


def read_response(sock: socket.socket) -> bytes:
    """Everything the server writes until it closes the connection (or stops for a second)."""
    received = b""
    sock.settimeout(1)
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return received


def stream_a_header(service: Service, size: int) -> tuple[bytes, float]:
    """Sends one header of `size` bytes in pieces, as a client would, stopping once the server answers."""
    started = time.monotonic()
    with connect(service) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: jobtrail\r\nX-Huge: ")
        piece = b"a" * 65536
        sent = 0
        try:
            while sent < size and not select.select([sock], [], [], 0)[0]:
                sock.sendall(piece)
                sent += len(piece)
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_response(sock), time.monotonic() - started


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def test_a_64_mib_header_is_refused_with_431_at_once(service: Service) -> None:
    response, seconds = stream_a_header(service, 64 * MIB)

    assert status_of(response) == 431, response[:300]
    head, body = response.split(b"\r\n\r\n", 1)
    assert b"content-type: application/problem+json" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == 431 and "64 KiB" in problem["detail"]
    assert seconds < 2
    assert httpx.get(f"{service.base_url}/healthz", timeout=5).status_code == 200


def test_a_head_just_over_64_kib_is_refused_and_one_under_is_served(service: Service) -> None:
    over, _ = stream_a_header(service, 65 * 1024)
    under = httpx.get(f"{service.base_url}/healthz", headers={"X-Large": "a" * 60_000}, timeout=5)

    assert status_of(over) == 431
    assert under.status_code == 200


def test_more_than_100_header_fields_are_refused_with_431(service: Service) -> None:
    fields = b"".join(b"X-Field-%d: %d\r\n" % (n, n) for n in range(101))
    with connect(service) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: jobtrail\r\n" + fields + b"\r\n")
        assert status_of(read_response(sock)) == 431

    ninety = {f"X-Field-{n}": str(n) for n in range(90)}
    assert httpx.get(f"{service.base_url}/healthz", headers=ninety, timeout=5).status_code == 200


def test_a_body_larger_than_the_bound_and_in_the_same_read_is_not_mistaken_for_headers(
    service: Service, key: str
) -> None:
    body = json.dumps({"kind": "demo.count", "params": {"total": 1}, "pad": "x" * 500_000}).encode()
    head = (
        b"POST /v1/jobs HTTP/1.1\r\nHost: jobtrail\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + key.encode() + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    )
    with connect(service) as sock:
        sock.sendall(head + body)
        response = read_response(sock)

    assert status_of(response) == 400  # the app judged the body (an unknown field), not the head
    assert b"pad" in response


def test_a_keep_alive_connection_may_send_more_than_64_kib_of_heads_in_all(service: Service) -> None:
    with httpx.Client(base_url=service.base_url, headers={"X-Padding": "p" * 4096}, timeout=5) as client:
        statuses = {client.get("/healthz").status_code for _ in range(40)}

    assert statuses == {200}
