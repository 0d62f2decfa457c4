"""Domain errors: a command the lifecycle or the job's rules refuse."""

from domain.lifecycle import Status, Trigger


class DomainError(Exception):
    """A command that can never succeed against the job as it stands."""


class JobNotFound(DomainError):
    def __init__(self) -> None:
        super().__init__("no such job")


class JobAlreadyExists(DomainError):
    def __init__(self) -> None:
        super().__init__("a job with this id already exists")


class InvalidCommand(DomainError):
    """A command whose own values break a rule (e.g. max_runs below 1)."""


class IllegalTransition(DomainError):
    def __init__(self, status: Status, trigger: Trigger, why: str = "") -> None:
        self.status, self.trigger = status, trigger
        reason = why or f"the lifecycle has no '{trigger}' move from '{status}'"
        super().__init__(f"cannot {trigger} a job that is {status}: {reason}")


class RequeueLimitReached(IllegalTransition):
    def __init__(self, status: Status, limit: int) -> None:
        super().__init__(status, Trigger.REQUEUE, f"it was already requeued {limit} times")
