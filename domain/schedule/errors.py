"""Schedule errors: commands its Machine or its rules refuse. DomainErrors, as the job's are,
so a caller that maps those maps these; InvalidSchedule names the field at fault (a 422)."""

from domain.errors import DomainError, InvalidCommand
from domain.schedule.lifecycle import ScheduleStatus, ScheduleTrigger


class ScheduleNotFound(DomainError):
    def __init__(self) -> None:
        super().__init__("no such schedule")


class ScheduleAlreadyExists(DomainError):
    def __init__(self) -> None:
        super().__init__("a schedule with this id already exists")


class InvalidSchedule(InvalidCommand):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class IllegalScheduleMove(DomainError):
    def __init__(self, status: ScheduleStatus, trigger: ScheduleTrigger) -> None:
        self.status, self.trigger = status, trigger
        super().__init__(f"cannot {trigger} a schedule that is {status}: its lifecycle has no such move")
