"""Every event the log holds, whichever kind of stream it is in: jobs', schedules' and checkpoints'.

All kinds share one log, one hash chain and one tag field ("type"), so one tagged union
decodes any stored event; a reader of the whole log (the runner, the live feed, an
export) decodes with this one. A stream's kind is told by its first event.
"""

from enum import StrEnum
from typing import get_args

import msgspec

from domain.checkpoint import CHECKPOINT_EVENT_TYPES, AnyCheckpointEvent
from domain.events import AnyEvent
from domain.schedule.events import SCHEDULE_EVENT_TYPES, AnyScheduleEvent

StreamEvent = AnyEvent | AnyScheduleEvent | AnyCheckpointEvent

EVENT_TYPES: tuple[type[StreamEvent], ...] = get_args(StreamEvent)

encoder = msgspec.json.Encoder()
decoder = msgspec.json.Decoder(StreamEvent)
list_decoder = msgspec.json.Decoder(list[StreamEvent])


class StreamKind(StrEnum):
    JOB = "job"
    SCHEDULE = "schedule"
    CHECKPOINT = "checkpoint"


def type_name(event: StreamEvent) -> str:
    """The permanent tag an event is stored under."""
    return type(event).__struct_config__.tag  # type: ignore[return-value]


def kind_of(event: StreamEvent) -> StreamKind:
    if isinstance(event, SCHEDULE_EVENT_TYPES):
        return StreamKind.SCHEDULE
    return StreamKind.CHECKPOINT if isinstance(event, CHECKPOINT_EVENT_TYPES) else StreamKind.JOB
