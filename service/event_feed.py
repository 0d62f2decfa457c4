"""One LISTEN connection per process, waking the live streams when events commit.

Every append notifies `jobtrail_events` with its stream id after it has committed
(service/event_store.py), so a rolled-back or refused append wakes nobody. A wake-up
is only a hint: each stream then reads the log itself through the pool, so a spurious
wake-up costs one read and a lost one at most a fallback period. Notifications sent
while the listener is away are lost, so every (re)connect and every `fallback_s`
wake all streams. Nothing here is shared between processes: every process listens for
itself.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from uuid import UUID

import psycopg

logger = logging.getLogger("jobtrail.event_feed")

LISTEN = "LISTEN jobtrail_events"
FALLBACK_S = 5.0
RECONNECT_S = 1.0


class Subscription:
    """One open stream's doorbell: set when its events may have changed."""

    def __init__(self, stream_id: UUID | None) -> None:
        self.key = str(stream_id) if stream_id else None  # None: the whole log
        self.woken = asyncio.Event()


class EventFeed:
    def __init__(self, database_url: str, *, fallback_s: float = FALLBACK_S) -> None:
        self._url, self._fallback_s = database_url, fallback_s
        self._subscriptions: dict[str | None, set[Subscription]] = {}
        self._task: asyncio.Task | None = None
        self.ending = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen())

    def end_streams(self) -> None:
        """Every open stream ends at its next step, and new ones end at once (shutdown)."""
        self.ending = True
        self._wake(None)

    async def close(self) -> None:
        self.end_streams()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

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
                    while True:
                        self._wake(None)  # on (re)connect and every fallback_s: anything missed
                        async for notify in conn.notifies(timeout=self._fallback_s):
                            self._wake(notify.payload)
            except psycopg.Error as error:  # streams hear nothing until it is back, which wakes them all
                logger.warning("the event listener lost its connection (%s); reconnecting", type(error).__name__)
                await asyncio.sleep(RECONNECT_S)
