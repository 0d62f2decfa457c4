"""The Machine's trigger behind every schedule command and event (see domain.triggers).

Creation has none: a schedule enters the Machine at creation, with no status to move from.
"""

from domain.schedule.commands import (
    AnyScheduleCommand,
    DeleteSchedule,
    FireSchedule,
    PauseSchedule,
    ResumeSchedule,
    TriggerSchedule,
    UpdateSchedule,
)
from domain.schedule.events import (
    AnyScheduleEvent,
    ScheduleDeleted,
    ScheduleFired,
    SchedulePaused,
    ScheduleResumed,
    ScheduleTriggered,
    ScheduleUpdated,
)
from domain.schedule.lifecycle import ScheduleTrigger

COMMAND_TRIGGERS: dict[type[AnyScheduleCommand], ScheduleTrigger] = {
    UpdateSchedule: ScheduleTrigger.UPDATE,
    PauseSchedule: ScheduleTrigger.PAUSE,
    ResumeSchedule: ScheduleTrigger.RESUME,
    DeleteSchedule: ScheduleTrigger.DELETE,
    FireSchedule: ScheduleTrigger.FIRE,
    TriggerSchedule: ScheduleTrigger.TRIGGER,
}

EVENT_TRIGGERS: dict[type[AnyScheduleEvent], ScheduleTrigger] = {
    ScheduleUpdated: ScheduleTrigger.UPDATE,
    SchedulePaused: ScheduleTrigger.PAUSE,
    ScheduleResumed: ScheduleTrigger.RESUME,
    ScheduleDeleted: ScheduleTrigger.DELETE,
    ScheduleFired: ScheduleTrigger.FIRE,
    ScheduleTriggered: ScheduleTrigger.TRIGGER,
}
