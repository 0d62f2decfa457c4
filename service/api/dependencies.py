"""The names route handlers ask for, declared explicitly (Litestar 3 infers nothing)."""

from litestar.di import NamedDependency
from psycopg_pool import AsyncConnectionPool

from service.api_keys import Principal
from service.kinds import Kind
from service.settings import Settings

Pool = NamedDependency[AsyncConnectionPool]
Caller = NamedDependency[Principal]
Kinds = NamedDependency[dict[str, Kind]]
CurrentSettings = NamedDependency[Settings]
DatabaseUrl = NamedDependency[str]
