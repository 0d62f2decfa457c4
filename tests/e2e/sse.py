"""A small Server-Sent Events reader for the live-stream tests, over httpx's line iterator."""

import time
from collections.abc import Iterator

import httpx
import msgspec


class Message(msgspec.Struct, frozen=True):
    id: str | None = None
    data: str | None = None
    comment: str | None = None


def messages(response: httpx.Response, deadline_s: float = 30) -> Iterator[Message]:
    """Each message (or comment block) as it arrives; fails past `deadline_s`, keep-alives included."""
    deadline = time.monotonic() + deadline_s
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if time.monotonic() > deadline:
            raise AssertionError(f"the stream was still going after {deadline_s} s")
        if line:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            name = name or "comment"
            fields[name] = f"{fields[name]}\n{value}" if name == "data" and name in fields else value
        elif fields:
            yield Message(id=fields.get("id"), data=fields.get("data"), comment=fields.get("comment"))
            fields = {}


def with_data(stream: Iterator[Message]) -> Iterator[Message]:
    """Only the messages that carry data (no keep-alives, no bare resume ids)."""
    return (m for m in stream if m.data is not None)


def data_messages(response: httpx.Response, deadline_s: float = 30) -> Iterator[Message]:
    """A response's data messages; a response can be read by one such iterator only."""
    return with_data(messages(response, deadline_s))
