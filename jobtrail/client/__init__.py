"""A typed client of the jobtrail HTTP API, blocking (`Client`) and asyncio (`AsyncClient`).

    from jobtrail.client import Client

    with Client("http://127.0.0.1:8000", key) as jobtrail:
        job = jobtrail.create("demo.count", {"total": 100})
        print(jobtrail.wait(job.id, timeout=60).status)

It depends on httpx and msgspec only. The reference is docs/client.md.
"""

from jobtrail.client.asynchronous import AsyncClient
from jobtrail.client.errors import (
    Conflict,
    FieldError,
    Forbidden,
    Gone,
    InvalidRequest,
    JobtrailError,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    RateLimited,
    RetryLater,
    ServerError,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
    UnsupportedMediaType,
    WaitTimeout,
)
from jobtrail.client.models import (
    ENDINGS,
    FINAL,
    BatchResult,
    Event,
    History,
    Job,
    Kind,
    Schedule,
    StateAt,
    Stats,
    Triggered,
)
from jobtrail.client.retries import NO_RETRIES, Retries
from jobtrail.client.sync import Client

__all__ = [
    "ENDINGS",
    "FINAL",
    "NO_RETRIES",
    "AsyncClient",
    "BatchResult",
    "Client",
    "Conflict",
    "Event",
    "FieldError",
    "Forbidden",
    "Gone",
    "History",
    "InvalidRequest",
    "Job",
    "JobtrailError",
    "Kind",
    "NotFound",
    "PayloadTooLarge",
    "ProblemError",
    "RateLimited",
    "Retries",
    "RetryLater",
    "Schedule",
    "ServerError",
    "ServiceUnavailable",
    "StateAt",
    "Stats",
    "TransportError",
    "Triggered",
    "Unauthorized",
    "UnsupportedMediaType",
    "WaitTimeout",
]
