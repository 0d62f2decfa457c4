"""How a broker is set up: credentials, a time scale for fast tests, and injected faults."""

import msgspec

# The deterministic user-1 credentials of the official `qstash dev` server (protocol §10.5),
# so code and config written for that server work unchanged.
DEV_TOKEN = "eyJVc2VySUQiOiJkZWZhdWx0VXNlciIsIlBhc3N3b3JkIjoiZGVmYXVsdFBhc3N3b3JkIn0="
DEV_CURRENT_SIGNING_KEY = "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r"
DEV_NEXT_SIGNING_KEY = "sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs"


class Faults(msgspec.Struct, frozen=True, kw_only=True):
    """Misbehaviour the real QStash is allowed, switched on to test idempotency and ordering."""

    duplicate_deliveries: bool = False
    shuffle: bool = False
    extra_delay_s: float = 0.0


class BrokerConfig(msgspec.Struct, frozen=True, kw_only=True):
    """`time_scale` multiplies every delay, backoff and schedule minute (0.001 makes a minute 60 ms)."""

    token: str = DEV_TOKEN
    current_signing_key: str = DEV_CURRENT_SIGNING_KEY
    next_signing_key: str = DEV_NEXT_SIGNING_KEY
    time_scale: float = 1.0
    dedup_window_s: float = 600.0
    dedup_capacity: int = 4096  # ids remembered at most, whatever the rate (service/broker/dedup.py)
    max_timeout_s: float = 900.0
    # Finished (delivered, failed, cancelled) messages stay readable this long, at most
    # `retention_capacity` of them: the newest are kept, whatever the rate.
    retention_s: float = 300.0
    retention_capacity: int = 10_000
    event_capacity: int = 10_000  # log entries (GET /v2/events) kept, the oldest dropped first
    # Calls in flight at once across all keys and queues, as a QStash plan caps them.
    global_parallelism: int = 1000
    faults: Faults = Faults()

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if self.retention_s < 0:
            raise ValueError("retention_s must not be negative")
        if self.retention_capacity < 0 or self.event_capacity < 1:
            raise ValueError("retention_capacity must not be negative and event_capacity must be positive")
        if self.global_parallelism < 1:
            raise ValueError("global_parallelism must be at least 1")
