"""Settings come from the environment only, so one process image serves every deployment.

msgspec converts the raw strings (strict=False parses numbers) and its error names the
offending variable, so a bad value is one clear line at start.
"""

import base64
import functools
import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import platformdirs


class SettingsError(Exception):
    """The environment describes a configuration we cannot run with."""


# A postgresql:// URL or a libpq key=value string ("host=/run/postgresql dbname=jobs").
MAX_WORKERS = 64
DatabaseUrl = Annotated[str, msgspec.Meta(pattern=r"^(postgres(ql)?://|\w+=)")]
HttpUrl = Annotated[str, msgspec.Meta(pattern=r"^https?://[^/\s]+(/\S*)?$")]

# Field name -> environment variable.
VARIABLES = {
    "database_url": "DATABASE_URL",
    "database_wait_s": "JOBTRAIL_DATABASE_WAIT_S",
    "data_dir": "JOBTRAIL_DATA_DIR",
    "host": "JOBTRAIL_HOST",
    "port": "JOBTRAIL_PORT",
    "workers": "JOBTRAIL_WORKERS",
    "pool_size": "JOBTRAIL_POOL_SIZE",
    "group_commit_max": "JOBTRAIL_GROUP_COMMIT_MAX",
    "shutdown_grace_s": "JOBTRAIL_SHUTDOWN_GRACE_S",
    "public_url": "JOBTRAIL_PUBLIC_URL",
    "qstash_url": "QSTASH_URL",
    "qstash_token": "QSTASH_TOKEN",
    "qstash_current_signing_key": "QSTASH_CURRENT_SIGNING_KEY",
    "qstash_next_signing_key": "QSTASH_NEXT_SIGNING_KEY",
    "broker_port": "JOBTRAIL_BROKER_PORT",
    "broker_time_scale": "JOBTRAIL_BROKER_TIME_SCALE",
    "broker_faults": "JOBTRAIL_BROKER_FAULTS",
    "broker_retention_s": "JOBTRAIL_BROKER_RETENTION_S",
    "relay_batch": "JOBTRAIL_RELAY_BATCH",
    "redispatch_after_s": "JOBTRAIL_REDISPATCH_AFTER_S",
    "schedule_check_s": "JOBTRAIL_SCHEDULE_CHECK_S",
    "sse_keepalive_s": "JOBTRAIL_SSE_KEEPALIVE_S",
    "sse_key_recheck_s": "JOBTRAIL_SSE_KEY_RECHECK_S",
    "dashboard_session_s": "JOBTRAIL_DASHBOARD_SESSION_S",
    "report_stuck_after_s": "JOBTRAIL_REPORT_STUCK_AFTER_S",
    "retain_s": "JOBTRAIL_RETAIN_S",
    "retain_failed_s": "JOBTRAIL_RETAIN_FAILED_S",
    "archive_dir": "JOBTRAIL_ARCHIVE_DIR",
    "allow_private_webhooks": "JOBTRAIL_ALLOW_PRIVATE_WEBHOOKS",
    "secrets_key": "JOBTRAIL_SECRETS_KEY",
    "alert_url": "JOBTRAIL_ALERT_URL",
    "alert_secret": "JOBTRAIL_ALERT_SECRET",
    "alert_hold_s": "JOBTRAIL_ALERT_HOLD_S",
    "alert_check_s": "JOBTRAIL_ALERT_CHECK_S",
    "audit_key": "JOBTRAIL_AUDIT_KEY",
    "checkpoint_s": "JOBTRAIL_CHECKPOINT_S",
    "log_format": "JOBTRAIL_LOG_FORMAT",
    "log_level": "JOBTRAIL_LOG_LEVEL",
}

# Old variable -> the one that replaced it. An old name still works, with one warning,
# while the new one is unset.
RENAMED = {
    "JOBTRAIL_STALL_AFTER_S": "JOBTRAIL_REDISPATCH_AFTER_S",
    "JOBTRAIL_STUCK_AFTER_S": "JOBTRAIL_REPORT_STUCK_AFTER_S",
}

logger = logging.getLogger("jobtrail.settings")

# The official QStash dev server's public, deterministic credentials (user 1). With
# QSTASH_TOKEN unset jobtrail runs its local broker with these, so `npx
# @upstash/qstash-cli dev` is a drop-in replacement.
DEV_QSTASH_URL = "http://127.0.0.1:8080"
DEV_QSTASH_TOKEN = "eyJVc2VySUQiOiJkZWZhdWx0VXNlciIsIlBhc3N3b3JkIjoiZGVmYXVsdFBhc3N3b3JkIn0="
DEV_CURRENT_SIGNING_KEY = "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r"
DEV_NEXT_SIGNING_KEY = "sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs"


@functools.cache
def default_data_dir() -> Path:
    """Where the embedded PostgreSQL and the development key live when JOBTRAIL_DATA_DIR is unset.

    Decided by where the code is, never by the working directory, so every command finds
    the same database wherever it is started: run from a source checkout (PYTHONPATH or
    an editable install), the checkout's own `.jobtrail`; installed from a wheel, the
    user's data directory (platformdirs: `~/.local/share/jobtrail` on Linux).
    """
    checkout = Path(__file__).resolve().parents[1]
    if _is_jobtrail_project(checkout / "pyproject.toml"):
        return checkout / ".jobtrail"
    return Path(platformdirs.user_data_dir("jobtrail", appauthor=False))


def _is_jobtrail_project(pyproject: Path) -> bool:
    try:
        project = tomllib.loads(pyproject.read_text()).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return project.get("name") == "jobtrail"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Where jobtrail keeps its state and listens; `database_url=None` means embedded."""

    database_url: DatabaseUrl | None = None
    # How long a request waits for a pool connection before it answers 503.
    database_wait_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0
    data_dir: Path = msgspec.field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8000  # 0: any free port
    # Processes serving the API; with more than one, `serve` supervises them.
    workers: Annotated[int, msgspec.Meta(ge=1, le=MAX_WORKERS)] = 1
    # Each serving process's pool of database connections (docs/operations.md counts them all).
    pool_size: Annotated[int, msgspec.Meta(ge=2, le=1000)] = 16
    # Group commit (service/store/group_commit.py): at most this many concurrent writes of
    # one process share a transaction and its commit; 1 commits each write alone. At most
    # 64, PostgreSQL's per-backend cache of subtransaction ids.
    group_commit_max: Annotated[int, msgspec.Meta(ge=1, le=64)] = 32
    # After SIGTERM, how long open requests may finish before they are cut off. A delivery
    # cut off is retried by QStash, its batch run again from the start: set it above the
    # longest batch a rolling restart should let finish (a kind's batch_timeout_s).
    shutdown_grace_s: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 10
    # None: the address served (see base_url); set it when QStash reaches the service elsewhere.
    public_url: HttpUrl | None = None
    qstash_url: HttpUrl = DEV_QSTASH_URL
    qstash_token: str | None = None  # None: run the local broker
    # None: the dev keys, but only while a dev broker is in use (see __post_init__).
    qstash_current_signing_key: str | None = None
    qstash_next_signing_key: str | None = None
    broker_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080  # 0: any free port
    broker_time_scale: Annotated[float, msgspec.Meta(gt=0, le=1)] = 1.0
    # The local broker keeps a delivered, failed or cancelled message readable
    # (GET /v2/messages/{id}) this long, at most 10,000 of them.
    broker_retention_s: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 300.0
    # The most runs the relay publishes in one request (QStash takes up to 100 a batch);
    # 1 publishes each run on its own.
    relay_batch: Annotated[int, msgspec.Meta(ge=1, le=100)] = 100
    # The sweeper acts: an active job that has not moved for this long, with no message in
    # flight, has its current run sent again (a bounded number of times).
    redispatch_after_s: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    # Each service process asks QStash this often whether it holds the sweep schedule
    # (re-creating it if not); the answer, or its absence, is the broker's state in /readyz.
    schedule_check_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0
    # A live stream with nothing to send writes a comment this often, so proxies keep it open.
    sse_keepalive_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 15.0
    # An open live stream reads its API key again this often (one indexed read) and ends
    # once the key is revoked: the longest a revoked key keeps reading.
    sse_key_recheck_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0
    # A dashboard sign-in lasts this long (at most 30 days), unless signed out or its key
    # is revoked first.
    dashboard_session_s: Annotated[float, msgspec.Meta(ge=60, le=30 * 86400)] = 12 * 3600.0
    # Statistics report: a processing job that has not progressed for this long counts as
    # stuck in /v1/stats and /metrics; longer than redispatch_after_s, so the sweeper's
    # re-dispatch has had its chance first.
    report_stuck_after_s: Annotated[float, msgspec.Meta(gt=0)] = 900.0
    # Test-only fault injection in the local broker: a comma list of "duplicate"
    # (deliver every message twice) and "shuffle" (deliver ready messages in random order).
    broker_faults: Annotated[str, msgspec.Meta(pattern=r"^((duplicate|shuffle)(,(duplicate|shuffle))*)?$")] = ""
    # Retention (service/archive): a finished job's history is archived and removed this
    # long after it finished; None keeps every job for ever. A kind's own period wins.
    # `error` and `timeout` jobs, which can still be requeued, may be kept longer.
    retain_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    retain_failed_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    # Where archived histories are written; None: `archive` under the data directory.
    archive_dir: Path | None = None
    # Notifications (service/notifications): webhook targets on private, loopback or
    # link-local addresses are refused unless this is set (loopback is always allowed in
    # development, with a dev broker).
    allow_private_webhooks: bool = False
    # The Fernet key that encrypts webhook secrets at rest; None: a key file in the data
    # directory. Every host of one deployment must share it.
    secrets_key: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{43}=$")] | None = None
    # Operators' alert endpoint: one Standard-Webhooks-signed message (JOBTRAIL_ALERT_SECRET,
    # a whsec_ secret) when the health verdict changes and holds for alert_hold_s, checked
    # every alert_check_s by each serving process.
    alert_url: HttpUrl | None = None
    alert_secret: str | None = None
    alert_hold_s: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 120.0
    alert_check_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 15.0
    # The Ed25519 key that signs checkpoints of the Merkle tree (docs/audit.md): a file's
    # path, or the key itself (PEM, or base64 of its 32-byte seed); None: a development key
    # generated once into the data directory. It never goes into the database.
    audit_key: str | None = None
    # Each serving process offers a checkpoint this often; one is issued when the log grew.
    checkpoint_s: Annotated[float, msgspec.Meta(ge=1, le=86400)] = 60.0
    # "auto": console lines on a terminal, JSON lines otherwise (a pipe, a file, a collector).
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def __post_init__(self) -> None:
        """A real QStash must come with its own signing keys: the dev keys are public.

        With them anyone who reaches /qstash/* could forge a run, a sweep or a failure
        callback, so a real QStash with a key unset, or set to a dev key, refuses to start;
        so does one without its URL, which would otherwise publish to a local dev server.
        """
        self._check_alerts()
        if self.dev_broker:
            return
        keys = {
            "QSTASH_CURRENT_SIGNING_KEY": self.qstash_current_signing_key,
            "QSTASH_NEXT_SIGNING_KEY": self.qstash_next_signing_key,
        }
        missing = [variable for variable, key in keys.items() if not key]
        if missing:
            unset = " and ".join(missing) + (" are" if len(missing) > 1 else " is")
            raise SettingsError(f"QSTASH_TOKEN names a real QStash but {unset} unset (copy them from its console)")
        public = [variable for variable, key in keys.items() if key in (DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY)]
        if public:
            raise SettingsError(f"{' and '.join(public)}: a dev server's public key, refused with a real QStash")
        if self.qstash_url == DEV_QSTASH_URL:  # unset: runs would go to a local dev server's port
            raise SettingsError(
                "QSTASH_TOKEN names a real QStash but QSTASH_URL is unset (its region's URL, e.g. https://qstash.upstash.io)"
            )

    def _check_alerts(self) -> None:
        if self.alert_url is not None and (self.alert_secret is None or not is_webhook_secret(self.alert_secret)):
            raise SettingsError(
                "JOBTRAIL_ALERT_URL needs JOBTRAIL_ALERT_SECRET, a Standard Webhooks secret"
                " (whsec_ and the base64 of 24 bytes or more)"
            )

    @property
    def development(self) -> bool:
        """A dev broker delivers: webhook endpoints on loopback are allowed (no real QStash could reach them)."""
        return self.dev_broker

    @property
    def base_url(self) -> str:
        """Where QStash delivers and browsers sign in: JOBTRAIL_PUBLIC_URL, else the address
        served (`serve` puts the port it bound here, so port 0 and --port follow)."""
        if self.public_url is not None:
            return self.public_url.rstrip("/")
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def archive_root(self) -> Path:
        return self.archive_dir if self.archive_dir is not None else self.data_dir / "archive"

    @property
    def embedded_broker(self) -> bool:
        return self.qstash_token is None

    @property
    def broker_url(self) -> str:
        """Where this configuration's QStash answers: the local broker's port when no
        token is set (so `jobtrail sweep` asks the broker `serve` runs), else QSTASH_URL."""
        if self.embedded_broker and self.broker_port:
            return f"http://127.0.0.1:{self.broker_port}"
        return self.qstash_url

    @property
    def dev_broker(self) -> bool:
        """The local broker or a dev server (`jobtrail qstash-dev`, `qstash dev`): only they take the dev token."""
        return self.qstash_token is None or self.qstash_token == DEV_QSTASH_TOKEN

    @property
    def token(self) -> str:
        return self.qstash_token or DEV_QSTASH_TOKEN

    @property
    def signing_keys(self) -> tuple[str, str]:
        """The keys deliveries are checked against; the dev keys fill in only for a dev broker."""
        return (
            self.qstash_current_signing_key or DEV_CURRENT_SIGNING_KEY,
            self.qstash_next_signing_key or DEV_NEXT_SIGNING_KEY,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        environ = _with_renamed(environ)
        raw = {
            field: environ[variable].strip()
            for field, variable in VARIABLES.items()
            if environ.get(variable, "").strip()
        }
        # msgspec does not build a Path from a str; a relative one is taken from the working directory, once
        data_dir, archive_dir = raw.pop("data_dir", None), raw.pop("archive_dir", None)
        try:
            settings = msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as error:
            raise SettingsError(_explain(error)) from None
        if data_dir is not None:
            settings = msgspec.structs.replace(settings, data_dir=Path(data_dir).expanduser().absolute())
        if archive_dir is not None:
            settings = msgspec.structs.replace(settings, archive_dir=Path(archive_dir).expanduser().absolute())
        if settings.data_dir.exists() and not settings.data_dir.is_dir():
            raise SettingsError(f"JOBTRAIL_DATA_DIR is not a directory: {settings.data_dir}")
        return settings


def is_webhook_secret(value: str) -> bool:
    """A Standard Webhooks secret: `whsec_` and the base64 of at least 24 bytes."""
    if not value.startswith("whsec_"):
        return False
    try:
        return len(base64.b64decode(value.removeprefix("whsec_"), validate=True)) >= 24
    except ValueError:
        return False


def _with_renamed(environ: Mapping[str, str]) -> Mapping[str, str]:
    """The environment with each old variable read under its new name, unless both are set."""
    old_in_use = [old for old in RENAMED if environ.get(old, "").strip()]
    if not old_in_use:
        return environ
    renamed = dict(environ)
    for old in old_in_use:
        new = RENAMED[old]
        if environ.get(new, "").strip():
            logger.warning("%s is ignored: %s, its new name, is set", old, new)
        else:
            logger.warning("%s is deprecated: set %s instead", old, new)
            renamed[new] = environ[old]
    return renamed


def _explain(error: msgspec.ValidationError) -> str:
    message = str(error)
    for field, variable in VARIABLES.items():
        message = message.replace(f"`$.{field}`", variable)
    hints = {
        "DATABASE_URL": " (a postgresql:// URL or key=value string, or unset for an embedded PostgreSQL)",
        "JOBTRAIL_PUBLIC_URL": " (an http(s):// base URL)",
    }
    return message + next((hint for variable, hint in hints.items() if variable in message), "")
