"""Job-finished webhooks end to end: `jobtrail serve`, its broker, and a receiver on loopback
that verifies every notification with `standardwebhooks`."""

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
from standardwebhooks import Webhook

from service.auth.keys import Scope, create_key
from service.settings import DEV_QSTASH_TOKEN
from tests.e2e.conftest import (
    Service,
    api_client,
    create,
    free_port,
    start_broker,
    stop_process,
    wait_for,
    wait_until_final,
)


class Receiver:
    """Answers 500 to the first `failures` requests (all, when None), then 204; keeps what verified."""

    def __init__(self, failures: int | None = 0) -> None:
        self.failures, self.seen, self.secret = failures, 0, ""
        self.verified: list[tuple[str, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.seen += 1
                payload = Webhook(receiver.secret).verify(body, dict(self.headers))  # raises when forged
                failing = receiver.failures is None or receiver.seen <= receiver.failures
                if not failing:
                    receiver.verified.append((self.headers["webhook-id"], payload))
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(request):
    made = Receiver(getattr(request, "param", 0))
    yield made
    made.close()


def notifications(api, job_id: str) -> list[dict]:
    response = api.get(f"/v1/jobs/{job_id}/notifications")
    assert response.status_code == 200, response.text
    return response.json()["notifications"]


def settled(api, job_id: str, status: str) -> list[dict]:
    wait_for(lambda: [n["status"] for n in notifications(api, job_id)] == [status], f"a {status} notification")
    return notifications(api, job_id)


@pytest.mark.parametrize("receiver", [2], indirect=True)
def test_a_receiver_failing_twice_gets_the_notification_verified_and_recorded_delivered_after_three_attempts(
    api, receiver
):
    receiver.secret = api.post("/v1/webhooks/notify-secret").json()["secret"]
    job = create(api, params={"total": 20, "per_batch": 10}, notify_url=receiver.url)
    done = wait_until_final(api, job["id"])
    [note] = settled(api, job["id"], "delivered")
    assert (note["attempts"], note["last_status"], note["url"]) == (3, 204, receiver.url)
    [(webhook_id, payload)] = receiver.verified
    assert webhook_id == note["webhook_id"] and payload["id"] == job["id"]
    assert (payload["status"], payload["version"]) == ("completed", done["version"])


@pytest.mark.parametrize("receiver", [None], indirect=True)
def test_a_receiver_that_always_fails_ends_in_the_dlq_and_the_job_says_failed(api, receiver, service):
    receiver.secret = api.post("/v1/webhooks/notify-secret").json()["secret"]
    job = create(api, params={"total": 10, "per_batch": 10}, notify_url=receiver.url)
    [note] = settled(api, job["id"], "failed")
    assert note["dlq_id"] and note["attempts"] == 6 and note["last_status"] == 500  # 5 retries
    assert receiver.seen == 6
    page = api.get(f"/jobs/{job['id']}", follow_redirects=False)
    assert page.status_code in (200, 303)


def test_registered_endpoints_are_notified_and_each_owner_sees_only_its_own(api, receiver, database_url, service):
    endpoint = api.post("/v1/webhooks", json={"url": receiver.url, "statuses": ["completed"]})
    assert endpoint.status_code == 201, endpoint.text
    receiver.secret = endpoint.json()["secret"]
    job = create(api, params={"total": 10, "per_batch": 10})
    settled(api, job["id"], "delivered")
    assert [webhook_id for webhook_id, _ in receiver.verified] == [notifications(api, job["id"])[0]["webhook_id"]]
    assert "secret" not in api.get("/v1/webhooks").json()["webhooks"][0]

    with api_client(service, other_owners_key(database_url)) as other:
        assert other.get("/v1/webhooks").json() == {"webhooks": []}
        assert other.get(f"/v1/jobs/{job['id']}/notifications").status_code == 404
        assert other.delete(f"/v1/webhooks/{endpoint.json()['id']}").status_code == 404
        assert other.post(f"/v1/webhooks/{endpoint.json()['id']}/rotate").status_code == 404
    assert api.post(f"/v1/webhooks/{endpoint.json()['id']}/rotate").json()["secret"] != receiver.secret
    assert api.delete(f"/v1/webhooks/{endpoint.json()['id']}").status_code == 204


def test_a_notify_url_on_a_private_network_is_refused_naming_the_field(api):
    api.post("/v1/webhooks/notify-secret")
    for url in ("http://10.0.0.7/hook", "https://192.168.1.1/hook", "https://169.254.169.254/latest"):
        response = api.post("/v1/jobs", json={"kind": "demo.count", "notify_url": url})
        assert response.status_code == 422, (url, response.text)
        assert response.json()["errors"][0]["key"] == "notify_url"


def test_a_notification_survives_its_server_being_killed_just_after_the_job_completes(database_url, tmp_path, key):
    receiver = Receiver()
    broker_port = free_port()
    with (tmp_path / "broker.log").open("ab") as broker_log:
        broker = start_broker(broker_port, broker_log, time_scale="0.001")
        service = Service(database_url, tmp_path)
        service.env.update(QSTASH_TOKEN=DEV_QSTASH_TOKEN, QSTASH_URL=f"http://127.0.0.1:{broker_port}")
        api = api_client(service, key)
        try:
            service.start()
            receiver.secret = api.post("/v1/webhooks/notify-secret").json()["secret"]
            job = create(api, params={"total": 10, "per_batch": 10}, notify_url=receiver.url)
            wait_until_final(api, job["id"])
            service.kill()
            time.sleep(0.2)
            service.start()
            [note] = settled(api, job["id"], "delivered")
            wait_for(lambda: receiver.verified, "the notification at the receiver")
        finally:
            api.close()
            service.stop()
            stop_process(broker)
            receiver.close()
    # At least once: a publish repeated after the kill may arrive twice, always under the one id.
    assert {webhook_id for webhook_id, _ in receiver.verified} == {note["webhook_id"]}


def other_owners_key(database_url: str) -> str:
    async def make() -> str:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return await create_key(conn, "another-tenant", (Scope.JOBS_WRITE, Scope.JOBS_READ))

    return asyncio.run(make())
