"""The broker's deduplication memory: which message a deduplication key named, for a window.

QStash accepts a publish whose deduplication id (or content hash) it saw within its
window without queueing it again (protocol §13). Kept naively, that memory grows with
the publish rate times the window (10 minutes by default) and with the length of the
ids, and it only ever stops growing once the window has passed. Here it is bounded:

- keys are held in the order they were remembered, which, with one window for all, is
  the order they expire, so expired keys are dropped from the front as time goes on;
- at most `capacity` keys: past it the oldest is forgotten before its window ends. A
  re-publish of a forgotten key is queued again, a duplicate delivery of the kind
  QStash itself may make (at-least-once; for jobtrail a run delivered again is a no-op).
  A publisher repeats a publish whose answer it lost within seconds or a minute
  (jobtrail's relay: a 15 s lease, then a backoff capped at a minute); the default 4,096
  keys span the lease at more publishes a second than one jobtrail process delivers, in
  about 1 MB (10,000 hold 2.5 MB: most of what bench/bench_soak.py saw grow in 10 minutes);
- a key is held as a 16-byte digest, so a long deduplication id costs what a short one does.
"""

import hashlib
from collections import OrderedDict

DIGEST_BYTES = 16  # 128 bits: a collision (a message dropped as another's duplicate) is negligible


class DedupMemory:
    def __init__(self, window_s: float, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._window_s = window_s
        self._capacity = capacity
        # digest -> (message id, expires at), oldest first
        self._entries: OrderedDict[bytes, tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def message_for(self, key: str, now: float) -> str | None:
        """The message `key` named within the window, or None."""
        self._expire(now)
        found = self._entries.get(_digest(key))
        return found[0] if found is not None else None

    def remember(self, key: str, message_id: str, now: float) -> None:
        """`key` names `message_id` from `now` until the window has passed."""
        self._expire(now)
        digest = _digest(key)
        self._entries.pop(digest, None)  # re-inserted at the back: it now expires last
        self._entries[digest] = (message_id, now + self._window_s)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def _expire(self, now: float) -> None:
        entries = self._entries
        while entries:
            _, expires_at = next(iter(entries.values()))
            if expires_at > now:
                return
            entries.popitem(last=False)


def _digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode(), digest_size=DIGEST_BYTES).digest()
