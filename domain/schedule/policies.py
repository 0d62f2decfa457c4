"""The choices a schedule is created with, and why a tick created no job."""

from enum import StrEnum


class Overlap(StrEnum):
    """What a tick does while the job of the one before is still active."""

    SKIP = "skip"  # create no job for it
    ALLOW = "allow"  # create one beside it
    CANCEL_PREVIOUS = "cancel_previous"  # cancel that job, then create one


class CatchUp(StrEnum):
    """What a tick delivered later than the tolerance does (the service was down, QStash retried).

    Older ticks missed meanwhile never get a job of their own under either policy: a
    schedule catches up at most once, with the latest tick.
    """

    SKIP = "skip"  # no job: the next tick is soon enough
    LATEST_ONCE = "latest_once"  # one job, for that latest tick


class NoJob(StrEnum):
    """Why a tick, recorded in the schedule's stream, created no job."""

    OVERLAP = "overlap"  # Overlap.SKIP and the previous job was still active
    MISSED = "missed"  # delivered later than the tolerance under CatchUp.SKIP
