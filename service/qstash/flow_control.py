"""A run's QStash flow control: the key its kind (and owner) is paced under, with the kind's limits.

QStash counts calls per key, across every URL and every publisher, so one key per kind
holds the kind's limits across all jobs and all service processes; with the kind's
`flow_scope="owner"` each owner gets a key of its own, and a tenant with a deep backlog
waits behind itself only. The limits travel with every publish, so a kind whose limits
change paces the runs published afterwards by the new ones.

Keys are `jobtrail.<kind>` and `jobtrail.<kind>.<owner hash>`, in the characters QStash
takes in names (letters, digits, `.`, `_`, `-`): a kind named otherwise is hashed too. The
owner is hashed so that keys, which QStash lists to anyone holding the token, do not name
tenants; 12 hex digits keep two tenants from sharing a key by chance.
"""

import hashlib
import re

from qstash.message import FlowControl

from domain.kinds import KindConfig

PREFIX = "jobtrail"
_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


def flow_control(kind: str, config: KindConfig, owner: str) -> FlowControl | None:
    """What to pass as the SDK's `flow_control=`, or None for a kind without limits."""
    if not config.flow_controlled:
        return None
    limits = FlowControl(key=flow_control_key(kind, config, owner))
    if config.parallelism is not None:
        limits["parallelism"] = config.parallelism
    if config.rate is not None:
        limits["rate"] = config.rate
        limits["period"] = config.period_s
    return limits


def flow_control_key(kind: str, config: KindConfig, owner: str) -> str:
    name = kind if _NAME.fullmatch(kind) else _digest(kind)
    if config.flow_scope == "owner":
        return f"{PREFIX}.{name}.{_digest(owner)}"
    return f"{PREFIX}.{name}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
