"""A process's commit notifications, both ways: what it commits, and what others commit.

Outgoing. A command committed in this process is announced after its commit
(`committed`, called by the command handler's Observers): this process's live streams
and relay are woken at once, and the other processes through NOTIFY. One sender task sends those: the commits
announced while one NOTIFY is in flight, or in the short pause after it
(`notify_interval_s`), all travel in the next: a busy process pays one round trip for
many appends, and no request waits for one. The first commit after a quiet spell goes
at once; under load a hint waits at most one pause. A notification is
only a hint, and each sleeper reads the database itself when woken: a hint lost in a
crash, or while the database is away, costs the others a fallback period.

Incoming. One LISTEN connection hears the commits of other processes and of the CLI:
`jobtrail_events` (payload: stream ids, comma-separated) wakes the live streams of
those jobs, `jobtrail_outbox` the relay, `jobtrail_notifications` the notification
relay. Notifications this process sent itself are recognised by the sending backend's
pid and skipped: they rang here already.
Notifications sent while the listener is away are lost, so every (re)connect and
every `fallback_s` wake all streams and both relays.

Neither is ever sent from inside an append's transaction: a transaction that has
queued a notification holds PostgreSQL's cluster-wide notify lock through its commit's
flush, which would serialize every append's commit (migrations/0009_cheaper_appends.sql).
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from uuid import UUID

import psycopg

from service.store.outage import DatabaseUnavailable, Outage

logger = logging.getLogger("jobtrail.event_feed")

EVENTS_CHANNEL = "jobtrail_events"
OUTBOX_CHANNEL = "jobtrail_outbox"
NOTIFICATIONS_CHANNEL = "jobtrail_notifications"
LISTEN = f"LISTEN {EVENTS_CHANNEL}; LISTEN {OUTBOX_CHANNEL}; LISTEN {NOTIFICATIONS_CHANNEL}"
NOTIFY = """
SELECT pg_notify(n.channel, n.payload)
  FROM unnest(%(channels)s::text[], %(payloads)s::text[]) AS n (channel, payload)
"""
FALLBACK_S = 5.0
# At most one NOTIFY per 10 ms: a busy process's hints reach the others up to 10 ms
# later, and it pays ~100 NOTIFYs a second however many appends it makes.
NOTIFY_INTERVAL_S = 0.01
RECONNECT_S = 1.0
# A payload is at most 8000 bytes: 200 stream ids of 36 characters and a comma.
STREAMS_PER_NOTIFY = 200


class Subscription:
    """One open stream's doorbell: set when its events may have changed."""

    def __init__(self, stream_id: UUID | None) -> None:
        self.key = str(stream_id) if stream_id else None  # None: the whole log
        self.woken = asyncio.Event()


class EventFeed:
    def __init__(
        self,
        database_url: str,
        *,
        fallback_s: float = FALLBACK_S,
        notify_interval_s: float = NOTIFY_INTERVAL_S,
        outage: Outage | None = None,
    ) -> None:
        self._url, self._fallback_s, self._notify_interval_s = database_url, fallback_s, notify_interval_s
        self._outage = outage or Outage()
        self._subscriptions: dict[str | None, set[Subscription]] = {}
        # The relay's doorbell: set when a commit may have queued outbox rows.
        self.outbox_queued = asyncio.Event()
        # The notification relay's doorbell: set when a commit may have queued notifications.
        self.notifications_queued = asyncio.Event()
        # The schedule keeper's doorbell: set when a schedule was created, changed or deleted here.
        self.schedules_changed = asyncio.Event()
        self._unsent_streams: dict[str, None] = {}  # insertion-ordered set
        self._unsent_outbox = False
        self._unsent_notifications = False
        self._has_unsent = asyncio.Event()
        self._sender: psycopg.AsyncConnection | None = None
        self._sender_pid: int | None = None
        self._closing = False
        self._listener: asyncio.Task | None = None
        self._sending: asyncio.Task | None = None
        self.ending = False

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen())
        self._sending = asyncio.create_task(self._send_forever())

    def end_streams(self) -> None:
        """Every open stream ends at its next step, and new ones end at once (shutdown)."""
        self.ending = True
        self._wake(None)

    async def close(self, timeout_s: float = 2.0) -> None:
        """Stop listening, and send the last commits' hints if the database answers in time."""
        self.end_streams()
        self._closing = True
        self._has_unsent.set()  # the sender sends what is left, then returns
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._sending is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):  # on timeout, cancels the sender too
                    await self._sending
        await self._drop_sender()

    # --- outgoing ---------------------------------------------------------------------

    def committed(self, stream_id: UUID, *, queued: bool, notified: bool = False) -> None:
        """An append to `stream_id` committed (`queued`: with outbox rows; `notified`: with
        a final event, which may have queued notifications); never blocks."""
        key = str(stream_id)
        self._wake(key)
        if queued:
            self.outbox_queued.set()
            self._unsent_outbox = True
        if notified:
            self.notification_queued()
        self._unsent_streams[key] = None
        self._has_unsent.set()

    def notification_queued(self) -> None:
        """A commit here queued notifications (a job's final event, an alert); never blocks."""
        self.notifications_queued.set()
        self._unsent_notifications = True
        self._has_unsent.set()

    async def _send_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._has_unsent.wait()
            started = loop.time()
            try:
                await self._send_unsent()
            except psycopg.Error as error:
                if isinstance(error, DatabaseUnavailable):  # told once, with the outage's other meetings
                    self._outage.failed("the commit notifier", error)
                else:
                    logger.warning(
                        "could not notify other processes of commits (%s); they catch up by polling",
                        type(error).__name__,
                    )
                await self._drop_sender()
                if not self._closing:
                    await asyncio.sleep(RECONNECT_S)
            if self._closing:
                if not self._has_unsent.is_set():
                    return
                continue  # closing: what is left goes now
            await asyncio.sleep(started + self._notify_interval_s - loop.time())

    async def _send_unsent(self) -> None:
        self._has_unsent.clear()
        streams, self._unsent_streams = list(self._unsent_streams), {}
        outbox, self._unsent_outbox = self._unsent_outbox, False
        notifications, self._unsent_notifications = self._unsent_notifications, False
        payloads = [",".join(streams[i : i + STREAMS_PER_NOTIFY]) for i in range(0, len(streams), STREAMS_PER_NOTIFY)]
        channels = [EVENTS_CHANNEL] * len(payloads)
        if outbox:
            channels.append(OUTBOX_CHANNEL)
            payloads.append("")
        if notifications:
            channels.append(NOTIFICATIONS_CHANNEL)
            payloads.append("")
        if not channels:
            return
        if self._sender is None:
            self._sender = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
            self._sender_pid = self._sender.info.backend_pid
        await self._sender.execute(NOTIFY, {"channels": channels, "payloads": payloads})

    async def _drop_sender(self) -> None:
        sender, self._sender, self._sender_pid = self._sender, None, None
        if sender is not None:
            with contextlib.suppress(psycopg.Error):
                await sender.close()

    # --- incoming ---------------------------------------------------------------------

    @contextlib.contextmanager
    def subscribe(self, stream_id: UUID | None = None) -> Iterator[Subscription]:
        """Woken by commits to `stream_id` (None: to any stream) while the block runs."""
        subscription = Subscription(stream_id)
        self._subscriptions.setdefault(subscription.key, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscriptions[subscription.key]
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscriptions[subscription.key]

    async def wait(self, subscription: Subscription, timeout_s: float) -> bool:
        """Whether the subscription was woken (True) or `timeout_s` passed quietly (False)."""
        try:
            async with asyncio.timeout(timeout_s):
                await subscription.woken.wait()
        except TimeoutError:
            return False
        return True

    def _wake(self, payload: str | None) -> None:
        """Wake the subscribers of the streams in a notification's payload; None or "": all."""
        if payload:
            keys = [None, *payload.split(",")]
        else:
            keys = list(self._subscriptions)
        for key in keys:
            for subscription in self._subscriptions.get(key, ()):
                subscription.woken.set()

    async def _listen(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(LISTEN)
                    self._outage.recovered()
                    while True:
                        self._wake(None)  # on (re)connect and every fallback_s: anything missed
                        self.outbox_queued.set()
                        self.notifications_queued.set()
                        async for notify in conn.notifies(timeout=self._fallback_s):
                            if notify.pid == self._sender_pid:
                                continue
                            if notify.channel == OUTBOX_CHANNEL:
                                self.outbox_queued.set()
                            elif notify.channel == NOTIFICATIONS_CHANNEL:
                                self.notifications_queued.set()
                            else:
                                self._wake(notify.payload)
            except DatabaseUnavailable as error:  # streams hear nothing until it is back, which wakes them all
                self._outage.failed("the event listener", error)
            except psycopg.Error as error:
                logger.warning("the event listener lost its connection (%s); reconnecting", type(error).__name__)
            await asyncio.sleep(RECONNECT_S)


async def notify(
    conn: psycopg.AsyncConnection, stream_id: UUID | None, *, queued: bool, notified: bool = False
) -> None:
    """In a process without a feed (the CLI): tell the others, on `conn`, of a commit to
    `stream_id` (None: to no job) just made there (`queued`: with outbox rows;
    `notified`: with notifications)."""
    channels, payloads = ([EVENTS_CHANNEL], [str(stream_id)]) if stream_id else ([], [])
    if queued:
        channels.append(OUTBOX_CHANNEL)
        payloads.append("")
    if notified:
        channels.append(NOTIFICATIONS_CHANNEL)
        payloads.append("")
    await conn.execute(NOTIFY, {"channels": channels, "payloads": payloads})
