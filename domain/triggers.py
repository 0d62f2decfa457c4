"""The Machine's trigger behind every command and every event.

A command names the move it asks for (`decide` asks the Machine whether that move is legal
from the job's status); an event records the move that was made (replay trusts it, and
the tests check every event `decide` emits against the Machine). Creation has no trigger:
a job enters the Machine in its initial state, with no status before it to move from.
"""

from domain.commands import (
    AnyCommand,
    Cancel,
    FailDelivery,
    FailJob,
    RecordBatch,
    Redispatch,
    Requeue,
    StartRun,
    TimeOut,
)
from domain.events import (
    AnyEvent,
    BatchRecorded,
    ContinuationScheduled,
    DeliveryFailed,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobRequeued,
    JobStarted,
    JobTimedOut,
    RunRedispatched,
)
from domain.lifecycle import Trigger

COMMAND_TRIGGERS: dict[type[AnyCommand], Trigger] = {
    StartRun: Trigger.START,
    RecordBatch: Trigger.RECORD_BATCH,
    FailDelivery: Trigger.FAIL_DELIVERY,
    FailJob: Trigger.FAIL,
    TimeOut: Trigger.TIME_OUT,
    Cancel: Trigger.CANCEL,
    Requeue: Trigger.REQUEUE,
    Redispatch: Trigger.REDISPATCH,
}

EVENT_TRIGGERS: dict[type[AnyEvent], Trigger] = {
    JobStarted: Trigger.START,
    BatchRecorded: Trigger.RECORD_BATCH,
    ContinuationScheduled: Trigger.CONTINUE,
    DeliveryFailed: Trigger.FAIL_DELIVERY,
    JobCompleted: Trigger.COMPLETE,
    JobFailed: Trigger.FAIL,
    JobTimedOut: Trigger.TIME_OUT,
    JobCancelled: Trigger.CANCEL,
    JobRequeued: Trigger.REQUEUE,
    RunRedispatched: Trigger.REDISPATCH,
}
