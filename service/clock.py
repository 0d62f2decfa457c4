"""The service's one clock. The domain never reads time: every command carries the instant
it was issued at, and that instant comes from here, timezone-aware, in UTC."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
