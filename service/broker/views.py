"""The JSON the SDK parses: Message, DlqMessage and Schedule objects (protocol §5-§7).

QStash is a Go service whose fields are `omitempty`, so absent optional fields are left out
rather than sent as null.
"""

import base64
from collections.abc import Iterable
from typing import Any

from service.broker.events import Event
from service.broker.records import DlqEntry, Message, MessageSpec, Schedule, UrlGroup


def header_map(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """`{name: [values]}`, Go's `http.Header` as JSON."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def body_fields(body: bytes, text_key: str, base64_key: str) -> dict[str, str]:
    if not body:
        return {}
    try:
        return {text_key: body.decode("utf-8")}
    except UnicodeDecodeError:
        return {base64_key: base64.b64encode(body).decode()}


def message_view(message: Message) -> dict[str, Any]:
    spec = message.spec
    view = {
        "messageId": message.message_id,
        "url": spec.url,
        "method": spec.method,
        "maxRetries": spec.retries,
        "notBefore": message.not_before_ms,
        "createdAt": message.created_at_ms,
        "scheduleId": message.schedule_id,
        "callerIP": message.caller_ip,
        "topicName": message.topic_name,
        "endpointName": message.endpoint_name,
        **_spec_fields(spec),
    }
    return _present(view)


def event_view(event: Event) -> dict[str, Any]:
    """A log line; both spellings where the SDK and openapi differ (protocol §8)."""
    message = event.message
    spec = message.spec
    response_headers = header_map(event.response_headers) or None
    view = {
        "time": event.time_ms,
        "messageId": message.message_id,
        "state": event.state,
        "url": spec.url,
        "error": event.error,
        "nextDeliveryTime": event.next_delivery_ms,
        "topicName": message.topic_name,
        "endpointName": message.endpoint_name,
        "scheduleId": message.schedule_id,
        "header": header_map(_headers(spec)) or None,
        "callbackHeaders": header_map(spec.callback.headers) or None if spec.callback else None,
        "failureCallbackHeaders": header_map(spec.failure_callback.headers) or None if spec.failure_callback else None,
        "body": base64.b64encode(spec.body).decode() if spec.body else None,
        "responseStatus": event.response_status,
        "responseHeader": response_headers,
        "responseHeaders": response_headers,
        "responseBody": base64.b64encode(event.response_body).decode() if event.response_body else None,
        "timeout": int(spec.timeout_s * 1000) if spec.timeout_s else None,
        "callback": spec.callback.url if spec.callback else None,
        "failureCallback": spec.failure_callback.url if spec.failure_callback else None,
        "method": spec.method,
        "maxRetries": spec.retries,
        "retryDelayExpr": spec.retry_delay,
        "retryDelayExpression": spec.retry_delay,
        "label": spec.label,
        "labels": list(spec.labels) or None,
    }
    return _present(view)


def url_group_view(group: UrlGroup) -> dict[str, Any]:
    return {
        "name": group.name,
        "createdAt": group.created_at_ms,
        "updatedAt": group.updated_at_ms,
        "endpoints": [_present({"url": endpoint.url, "name": endpoint.name}) for endpoint in group.endpoints],
    }


def dlq_view(entry: DlqEntry) -> dict[str, Any]:
    return {
        **message_view(entry.message),
        "dlqId": entry.dlq_id,
        "responseStatus": entry.response_status,
        "responseHeader": header_map(entry.response_headers),
        **body_fields(entry.response_body, "responseBody", "responseBodyBase64"),
    }


def schedule_view(schedule: Schedule) -> dict[str, Any]:
    spec = schedule.spec
    view = {
        "scheduleId": schedule.schedule_id,
        "destination": spec.url,
        "cron": schedule.cron_text,
        "createdAt": schedule.created_at_ms,
        "method": spec.method,
        "retries": spec.retries,
        "delay": int(spec.delay_s) or None,
        "timeout": int(spec.timeout_s) if spec.timeout_s else None,
        "callerIP": schedule.caller_ip,
        "isPaused": schedule.paused or None,
        "lastScheduleTime": schedule.last_schedule_time_ms,
        "nextScheduleTime": schedule.next_schedule_time_ms,
        "lastScheduleStates": dict(schedule.last_states) or None,
        **_spec_fields(spec),
    }
    return _present(view)


def _headers(spec: MessageSpec) -> list[tuple[str, str]]:
    headers = list(spec.forward_headers)
    if spec.content_type is not None:
        headers.insert(0, ("Content-Type", spec.content_type))
    return headers


def _spec_fields(spec: MessageSpec) -> dict[str, Any]:
    return {
        **body_fields(spec.body, "body", "bodyBase64"),
        "header": header_map(_headers(spec)) or None,
        "callback": spec.callback.url if spec.callback else None,
        "callbackHeader": header_map(spec.callback.headers) or None if spec.callback else None,
        "failureCallback": spec.failure_callback.url if spec.failure_callback else None,
        "failureCallbackHeader": header_map(spec.failure_callback.headers) or None if spec.failure_callback else None,
        "retryDelayExpression": spec.retry_delay,
        "label": spec.label,
        "labels": list(spec.labels) or None,
        "queueName": spec.queue,
        **_flow_control_fields(spec),
    }


def _flow_control_fields(spec: MessageSpec) -> dict[str, Any]:
    limits = spec.flow_control
    if limits is None:
        return {}
    return {
        "flowControlKey": limits.key,
        "parallelism": limits.parallelism,
        "rate": limits.rate,
        "period": whole_seconds(limits.period_s) if limits.rate is not None else None,
    }


def whole_seconds(seconds: float) -> int:
    """Periods are shown in whole seconds, as the SDK reads them; a shorter one shows as 1."""
    return max(1, round(seconds))


def _present(view: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in view.items() if value is not None}
