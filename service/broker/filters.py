"""The filters of the messages, DLQ and log routes (protocol §6-§8): each selects exactly the
messages that match it, and a parameter a route does not know is a 400, never "everything".

As QStash reads them, the values of one filter are alternatives (repeated, or one
comma-separated value) and separate filters must all hold. Filters come from the query
string, or from a JSON body of the same names (what some SDK releases send).
"""

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import msgspec

from service.broker.errors import BadRequest
from service.broker.events import STATES
from service.broker.records import Message

Params = dict[str, list[str]]

# Parameters that carry URLs, whose commas are part of a value rather than separators.
_WHOLE_VALUES = frozenset({"url", "host", "path"})
# The spelling the openapi document uses for the state the SDKs spell CANCELED.
_STATE_ALIASES = {"CANCELLED": ("CANCELED",), "IN_PROGRESS": ("ACTIVE", "RETRY", "ERROR")}


class Facts(msgspec.Struct, frozen=True, kw_only=True):
    """What a filter can look at: a message, with the time and outcome of a DLQ entry or log line."""

    message: Message
    time_ms: int
    response_status: int | None = None
    state: str | None = None


def _url_part(part: str) -> Callable[[Facts], str | None]:
    def read(facts: Facts) -> str | None:
        split = urlsplit(facts.message.spec.url)
        return split.hostname if part == "host" else split.path

    return read


def _labels(facts: Facts) -> Iterable[str]:
    return facts.message.spec.labels


_FIELDS: dict[str, Callable[[Facts], Any]] = {
    "messageId": lambda facts: facts.message.message_id,
    "messageIds": lambda facts: facts.message.message_id,
    "url": lambda facts: facts.message.spec.url,
    "host": _url_part("host"),
    "path": _url_part("path"),
    "topicName": lambda facts: facts.message.topic_name,
    "queueName": lambda facts: facts.message.spec.queue,
    "flowControlKey": lambda facts: facts.message.spec.flow_control.key if facts.message.spec.flow_control else None,
    "scheduleId": lambda facts: facts.message.schedule_id,
    "callerIp": lambda facts: facts.message.caller_ip,
    "callerIP": lambda facts: facts.message.caller_ip,
    "responseStatus": lambda facts: None if facts.response_status is None else str(facts.response_status),
    "state": lambda facts: facts.state,
}


def params(query: Iterable[tuple[str, str]], body: bytes = b"") -> Params:
    """Query parameters plus the names of a JSON object body, each name with its values."""
    collected: Params = {}
    for name, value in query:
        collected.setdefault(name, []).append(value)
    if body.strip():
        try:
            fields = msgspec.json.decode(body, type=dict[str, str | int | bool | list[str | int]])
        except msgspec.DecodeError as error:
            raise BadRequest(f"invalid body: {error}") from None
        for name, given in fields.items():
            items = given if isinstance(given, list) else [given]
            collected.setdefault(name, []).extend(_text(item) for item in items)
    return collected


def _text(value: str | int | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def values(found: Params, name: str) -> list[str]:
    raw = found.get(name, [])
    if name in _WHOLE_VALUES:
        return [value for value in raw if value]
    return [part.strip() for value in raw for part in value.split(",") if part.strip()]


def check_known(found: Params, known: Iterable[str]) -> None:
    allowed = set(known) | {"qstash_token"}
    unknown = sorted(set(found) - allowed)
    if unknown:
        raise BadRequest(
            f"unknown query parameter(s): {', '.join(unknown)}; this route takes {', '.join(sorted(allowed))}"
        )
    # An empty filter must not read as no filter: a bulk cancel or delete would take everything.
    lists = ("qstash_token", "messageIds", "dlqIds")  # an empty list of ids is a valid no-op
    empty = sorted(name for name in found if name not in lists and not values(found, name))
    if empty:
        raise BadRequest(f"query parameter(s) without a value: {', '.join(empty)}")


def selection(found: Params, filters: Iterable[str]) -> Callable[[Facts], bool]:
    """A predicate for the filters among `filters` that `found` gives; true for all if none."""
    tests: list[Callable[[Facts], bool]] = []
    for name in filters:
        wanted = values(found, name)
        if not wanted:
            continue
        if name in ("fromDate", "toDate"):
            tests.append(_time_test(name, wanted))
        elif name == "label":
            tests.append(_label_test(frozenset(wanted)))
        else:
            tests.append(_field_test(name, _checked(name, wanted)))
    return lambda facts: all(test(facts) for test in tests)


def has_filter(found: Params, filters: Iterable[str]) -> bool:
    return any(values(found, name) for name in filters)


def integer(found: Params, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    given = values(found, name)
    if not given:
        return default
    try:
        number = int(given[0])
    except ValueError:
        raise BadRequest(f"invalid {name}: {given[0]}") from None
    if number < minimum:
        raise BadRequest(f"invalid {name}: {given[0]} (at least {minimum})")
    return number if maximum is None else min(number, maximum)


def flag(found: Params, name: str) -> bool:
    given = values(found, name)
    if not given:
        return False
    if given[0].lower() not in ("true", "false"):
        raise BadRequest(f"invalid {name}: {given[0]} (true or false)")
    return given[0].lower() == "true"


def _checked(name: str, wanted: list[str]) -> frozenset[str]:
    if name == "responseStatus":
        for value in wanted:
            if not value.isdigit():
                raise BadRequest(f"invalid responseStatus: {value}")
    if name == "state":
        expanded: list[str] = []
        for value in wanted:
            state = value.upper()
            if state not in STATES and state not in _STATE_ALIASES:
                raise BadRequest(f"invalid state: {value}")
            expanded.extend(_STATE_ALIASES.get(state, (state,)))
        return frozenset(expanded)
    return frozenset(wanted)


def _label_test(wanted: frozenset[str]) -> Callable[[Facts], bool]:
    return lambda facts: not wanted.isdisjoint(_labels(facts))


def _field_test(name: str, wanted: frozenset[str]) -> Callable[[Facts], bool]:
    field = _FIELDS[name]
    return lambda facts: field(facts) in wanted


def _time_test(name: str, wanted: list[str]) -> Callable[[Facts], bool]:
    try:
        bound = int(wanted[0])
    except ValueError:
        raise BadRequest(f"invalid {name}: {wanted[0]} (unix milliseconds)") from None
    if name == "fromDate":
        return lambda facts: facts.time_ms >= bound
    return lambda facts: facts.time_ms <= bound
