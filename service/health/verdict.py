"""The overall health verdict, and the thresholds it is judged by.

Each rule looks at one figure and may make the service `degraded` or `unhealthy`; the
worst rule wins and every rule that fired is given as a reason. The failure rate is
judged only over enough finished jobs: one failure out of one is no trend. QStash not
answering degrades: runs wait in the outbox, and the outbox's age makes it unhealthy
once they have waited long. Deliveries that do not reach the service (its self-probe,
service/qstash/self_probe.py) make it unhealthy: no job can move.
"""

from typing import Literal

from service.health.stats import Backlog, Finished, Lag, Stuck
from service.qstash.broker_status import BrokerHealth
from service.qstash.self_probe import ProbeHealth

Verdict = Literal["healthy", "degraded", "unhealthy"]

MIN_FINISHED_FOR_RATE = 5
DEGRADED_FAILURE_RATE = 0.10
UNHEALTHY_FAILURE_RATE = 0.50
# The relay publishes a row within a second or so; an old unsent row means it cannot.
DEGRADED_OUTBOX_AGE_S = 60.0
UNHEALTHY_OUTBOX_AGE_S = 300.0
# The stats runner tails the log every 0.2 s; lag beyond this means it is not running.
DEGRADED_LAG_S = 30.0
UNHEALTHY_LAG_S = 300.0

_RANK: dict[Verdict, int] = {"healthy": 0, "degraded": 1, "unhealthy": 2}


def judge(
    finished: Finished,
    stuck: Stuck,
    backlog: Backlog,
    lag: Lag,
    broker: BrokerHealth | None = None,
    deliveries: ProbeHealth | None = None,
) -> tuple[Verdict, list[str]]:
    findings: list[tuple[Verdict, str]] = []
    rate = finished.failure_rate
    if rate is not None and finished.total >= MIN_FINISHED_FOR_RATE:
        level = _level(rate, DEGRADED_FAILURE_RATE, UNHEALTHY_FAILURE_RATE)
        if level:
            findings.append((level, f"{finished.failed} of {finished.total} finished jobs failed ({rate:.0%})"))
    if stuck.count:
        findings.append(("degraded", f"{stuck.count} job(s) stuck in processing"))
    level = _level(backlog.oldest_age_s, DEGRADED_OUTBOX_AGE_S, UNHEALTHY_OUTBOX_AGE_S)
    if level:
        findings.append((level, f"the oldest unsent outbox message is {backlog.oldest_age_s:.0f} s old"))
    level = _level(lag.seconds, DEGRADED_LAG_S, UNHEALTHY_LAG_S)
    if level:
        findings.append((level, f"the stats projection is {lag.seconds:.0f} s ({lag.events} events) behind"))
    if broker is not None and broker.state == "down":
        since = broker.since.isoformat(timespec="seconds")
        findings.append(("degraded", f"broker down: QStash has not answered since {since} ({broker.error})"))
    if deliveries is not None and deliveries.state == "failed" and deliveries.reason:
        findings.append(("unhealthy", deliveries.reason))
    verdict: Verdict = max((level for level, _ in findings), key=_RANK.__getitem__, default="healthy")
    return verdict, [reason for _, reason in findings]


def _level(value: float, degraded: float, unhealthy: float) -> Verdict | None:
    if value >= unhealthy:
        return "unhealthy"
    if value >= degraded:
        return "degraded"
    return None
