"""The cyclic garbage collector while a process serves: what lives as long as the process is
left alone, and the youngest generation is collected less often.

The objects alive once an app has started (modules, the app, its routes and schemas: over
100,000 in the service) are frozen: every full pass walked them all, ~100 ms, several
times a minute under load, and none of them was ever going to be collected. The youngest
generation is collected every 5,000 (net) allocations rather than Python's 700: a request
allocates a few hundred objects, nearly all freed by their reference counts, and each
pass walked the survivors of the thirty-odd requests in flight. Together they take about
a fifth off the service's CPU per signed delivery (bench/profile_deliveries.py). Both
are undone when serving ends: tests start many apps in one process.
"""

import contextlib
import gc
from collections.abc import Iterator

YOUNG_COLLECTION_EVERY = 5000


@contextlib.contextmanager
def tuned_for_serving() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
