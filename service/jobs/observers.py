"""Who hears of a command's commit: the app's event feed and metrics, handed in by `create_app`.

`handle` tells its Observers of every append that committed, after the commit, and of
none that was refused (a conflict, a duplicate message). With a feed, this process's
live streams and relay wake at once and other processes hear through the feed's
coalesced NOTIFY; without one (the CLI, scripts) a NOTIFY of its own goes on the
command's connection. Never from inside the append's transaction: a queued notification
holds PostgreSQL's cluster-wide notify lock through the commit and so serializes every
append's commit (migrations/0009_cheaper_appends.sql). Without metrics nothing is counted.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from psycopg import AsyncConnection

from domain.events import AnyEvent
from domain.state import JobState
from service.health.metrics import Metrics
from service.live.event_feed import EventFeed, notify
from service.store.group_commit import GroupCommit


@dataclass(frozen=True, slots=True)
class Observers:
    feed: EventFeed | None = None
    metrics: Metrics | None = None
    # How this process commits: appends of concurrent requests share one transaction
    # (service/store/group_commit.py); None: each append commits alone on its caller's connection.
    group_commit: GroupCommit | None = None

    async def committed(
        self,
        conn: AsyncConnection | None,
        stream_id: UUID,
        events: Sequence[AnyEvent],
        state: JobState,
        seconds: float,
        *,
        queued: bool,
        notified: bool = False,
    ) -> None:
        """`events` committed in `seconds`, leaving `state` (`queued`: with outbox rows;
        `notified`: with a final event's notifications); `conn` carries the NOTIFY when there
        is no feed (it may be None when there is one)."""
        if self.feed is not None:
            self.feed.committed(stream_id, queued=queued, notified=notified)
        else:
            assert conn is not None, "without a feed, a commit is announced on a connection"
            await notify(conn, stream_id, queued=queued, notified=notified)
        if self.metrics is not None:
            self.metrics.appended(events, state, seconds)

    def schedule_changed(self) -> None:
        """A schedule was created, changed, paused, resumed or deleted: this process's keeper
        brings QStash in line now. Without a feed (the CLI) the serving processes' next
        check does (JOBTRAIL_SCHEDULE_CHECK_S)."""
        if self.feed is not None:
            self.feed.schedules_changed.set()


# A process without a feed or metrics: its commits reach the others by NOTIFY, uncounted.
STANDALONE = Observers()
