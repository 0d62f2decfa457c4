"""One delivery attempt: the signed HTTP request QStash would send, and what came back (§10)."""

import time

import msgspec

from service.broker.config import BrokerConfig
from service.broker.headers import canonical
from service.broker.http_client import HttpClient, HttpError
from service.broker.keys import SigningKeys
from service.broker.records import Message, Pairs
from service.broker.signing import sign

USER_AGENT = "Upstash-QStash"
_OURS = frozenset(
    {
        "user-agent",
        "host",
        "content-length",
        "upstash-message-id",
        "upstash-retried",
        "upstash-signature",
    }
)


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """`status` is None when no response came back (timeout, refused connection)."""

    status: int | None
    headers: Pairs = ()
    body: bytes = b""
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def non_retryable(self) -> bool:
        """489 with `Upstash-NonRetryable-Error: true`; both are required (§11)."""
        flags = [value for name, value in self.headers if name.lower() == "upstash-nonretryable-error"]
        return self.status == 489 and any(value.strip().lower() == "true" for value in flags)


class Deliverer:
    def __init__(self, client: HttpClient, config: BrokerConfig, keys: SigningKeys | None = None) -> None:
        self._client = client
        self._config = config
        self._keys = keys or SigningKeys(config.current_signing_key, config.next_signing_key)

    async def attempt(self, message: Message) -> Outcome:
        spec = message.spec
        body = b"" if spec.method == "GET" else spec.body
        timeout = min(spec.timeout_s or self._config.max_timeout_s, self._config.max_timeout_s)
        try:
            response = await self._client.request(
                spec.method, spec.url, headers=self.headers(message, body), body=body, timeout_s=timeout
            )
        except TimeoutError:
            return Outcome(status=None, error=f"timeout after {timeout:g}s")
        except HttpError as error:
            return Outcome(status=None, error=str(error))
        return Outcome(
            status=response.status,
            headers=tuple((canonical(name), value) for name, value in response.headers),
            body=response.body,
        )

    def headers(self, message: Message, body: bytes) -> list[tuple[str, str]]:
        spec = message.spec
        signature = sign(self._keys.current, spec.url, body, int(time.time()))
        headers = [(name, value) for name, value in spec.forward_headers if name.lower() not in _OURS]
        if spec.content_type is not None:
            headers.append(("Content-Type", spec.content_type))
        headers += [
            ("User-Agent", USER_AGENT),
            ("Upstash-Message-Id", message.message_id),
            ("Upstash-Retried", str(message.retried)),
            ("Upstash-Signature", signature),
        ]
        if message.schedule_id is not None:
            headers.append(("Upstash-Schedule-Id", message.schedule_id))
        if message.topic_name is not None:
            headers.append(("Upstash-Topic-Name", message.topic_name))
        if message.caller_ip is not None:
            headers.append(("Upstash-Caller-Ip", message.caller_ip))
        return headers
