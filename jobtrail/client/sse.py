"""Reading a job's watch stream (Server-Sent Events), and where to resume it, with no I/O.

Each message's `id` is the global position of the event it reflects; a watch that
reconnects sends the last one as `Last-Event-ID` and the service answers with what
followed it, no gap and no repeat. The stream ends after a completed or cancelled
status; resuming after that answers 204.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import msgspec

from jobtrail.client import models
from jobtrail.client.errors import WaitTimeout

_job = msgspec.json.Decoder(models.Job)


@dataclass(frozen=True)
class Message:
    id: str | None = None
    data: str | None = None
    comment: str | None = None


@dataclass
class MessageReader:
    """Lines in, messages out, as the SSE format frames them (a blank line ends a message)."""

    _fields: dict[str, list[str]] = field(default_factory=dict)

    def line(self, line: str) -> Message | None:
        if line:
            name, _, value = line.partition(":")
            self._fields.setdefault(name or "comment", []).append(value.removeprefix(" "))
            return None
        fields, self._fields = self._fields, {}
        if not fields:
            return None
        data = fields.get("data")
        return Message(
            id=fields["id"][-1] if "id" in fields else None,
            data="\n".join(data) if data is not None else None,
            comment="\n".join(fields["comment"]) if "comment" in fields else None,
        )


@dataclass
class WatchPosition:
    """How far a watch got: the last message's id (to resume from) and whether the job is final."""

    last_event_id: str | None = None
    final: bool = False
    reader: MessageReader = field(default_factory=MessageReader)

    def line(self, line: str) -> models.Job | None:
        """The job's status, when this line ends a message that carries one."""
        message = self.reader.line(line)
        if message is None or message.data is None:
            return None
        if message.id is not None:
            self.last_event_id = message.id
        job = _job.decode(message.data)
        self.final = job.status in models.FINAL
        return job

    def reconnected(self) -> None:
        """A new connection starts with no half-read message."""
        self.reader = MessageReader()


def timed_out(job_id: uuid.UUID | str, last: models.Job | None) -> WaitTimeout:
    status = f" (still {last.status})" if last else ""
    return WaitTimeout(f"job {uuid.UUID(str(job_id))} did not end in time{status}", last)
