"""How a long fold shows its progress on stderr: a bar on a terminal, plain lines elsewhere.

A terminal gets a rich bar (events done of all, events/s, time left), redrawn in place.
Anything else (a pipe, a file, a CI log) gets one plain line per tenth of the events,
so a log shows steady progress without a single control character. stdout carries only
the result, so `jobtrail projections rebuild > out` keeps a clean result either way.
"""

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.progress import Progress as Bar
from rich.text import Text

from projections.replay import Progress

STEPS = 10  # plain lines per fold


@contextmanager
def progress_on_stderr(label: str, *, quiet: bool = False) -> Iterator[Progress | None]:
    """A progress callable drawing on stderr for the duration of the block (None if quiet)."""
    if quiet:
        yield None
    elif sys.stderr.isatty():
        with _bar(sys.stderr, label) as callback:
            yield callback
    else:
        yield PlainLines(sys.stderr, label)


class PlainLines:
    """`<label>: 300,000 of 1,000,000 events (30%), 250,000 events/s, 3 s left`, per tenth."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream, self.label = stream, label
        self.started = time.monotonic()
        self.printed = -1  # tenths already printed

    def __call__(self, done: int, total: int) -> None:
        tenth = STEPS if total == 0 else done * STEPS // total
        if tenth <= self.printed or (tenth == 0 and total):
            return
        self.printed = tenth
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = done / elapsed
        left = (total - done) / rate if rate else 0.0
        print(
            f"{self.label}: {done:,} of {total:,} events ({tenth * 100 // STEPS}%), "
            f"{rate:,.0f} events/s, {left:.0f} s left",
            file=self.stream,
            flush=True,
        )


class _EventsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} events/s", style="progress.data.speed")


@contextmanager
def _bar(stream: TextIO, label: str) -> Iterator[Progress]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        _EventsPerSecond(),
        TimeRemainingColumn(),
    )
    with Bar(*columns, console=Console(file=stream)) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
