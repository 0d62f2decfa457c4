"""The names route handlers ask for, declared explicitly (Litestar 3 infers nothing).

These values are built by the app itself, so they skip validation: Litestar would
otherwise re-check each one (the whole kinds registry, the settings) on every request.
"""

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from psycopg_pool import AsyncConnectionPool

from service.archive.store import ArchiveStore
from service.auth.keys import Principal
from service.jobs.kinds import Kind
from service.jobs.observers import Observers
from service.qstash.broker_status import BrokerStatus
from service.qstash.self_probe import ProbeStatus
from service.settings import Settings
from service.store.database_start import DatabaseStart

Pool = NamedDependency[SkipValidation[AsyncConnectionPool]]
Caller = NamedDependency[SkipValidation[Principal]]
Kinds = NamedDependency[SkipValidation[dict[str, Kind]]]
CurrentSettings = NamedDependency[SkipValidation[Settings]]
Archives = NamedDependency[SkipValidation[ArchiveStore]]  # where archived histories are kept
DatabaseUrl = NamedDependency[SkipValidation[str]]
DatabaseStarting = NamedDependency[SkipValidation[DatabaseStart]]
CommitObservers = NamedDependency[SkipValidation[Observers]]
# None when the app runs without deliveries (no broker, relay or schedule).
Broker = NamedDependency[SkipValidation[BrokerStatus | None]]
DeliveryProbe = NamedDependency[SkipValidation[ProbeStatus | None]]
