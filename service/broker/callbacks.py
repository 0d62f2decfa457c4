"""Callback and failure-callback messages: the §12 JSON body, published as new signed messages."""

import base64
import json

from service.broker.delivery import Outcome
from service.broker.records import CallbackConfig, Message, MessageSpec
from service.broker.views import header_map


def callback_spec(
    config: CallbackConfig,
    message: Message,
    outcome: Outcome,
    dlq_id: str | None = None,
) -> MessageSpec:
    """A POST of the report to the callback URL; retries default to the original message's."""
    return MessageSpec(
        url=config.url,
        method=config.method,
        body=report(message, outcome, dlq_id),
        content_type="application/json",
        forward_headers=config.forward_headers,
        retries=config.retries if config.retries is not None else message.spec.retries,
        retry_delay=config.retry_delay,
        timeout_s=config.timeout_s,
        delay_s=config.delay_s,
    )


def report(message: Message, outcome: Outcome, dlq_id: str | None) -> bytes:
    """Go `omitempty` style: `retried` is absent on the first attempt, `dlqId` only on failure."""
    spec = message.spec
    source_headers = list(spec.forward_headers)
    if spec.content_type is not None:
        source_headers.insert(0, ("Content-Type", spec.content_type))
    fields = {
        "status": outcome.status if outcome.status is not None else 0,
        "header": header_map(outcome.headers),
        "body": base64.b64encode(outcome.body).decode(),
        "retried": message.retried or None,
        "maxRetries": spec.retries,
        "sourceMessageId": message.message_id,
        "url": spec.url,
        "method": spec.method,
        "sourceHeader": header_map(source_headers),
        "sourceBody": base64.b64encode(spec.body).decode(),
        "notBefore": str(message.not_before_ms),
        "createdAt": str(message.created_at_ms),
        "scheduleId": message.schedule_id,
        "callerIP": message.caller_ip,
        "dlqId": dlq_id,
    }
    return json.dumps({key: value for key, value in fields.items() if value is not None}).encode()
