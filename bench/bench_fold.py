"""Fold speed: `domain.job.fold` over one long stream, against a bare loop over it.

The stream is produced by `decide` from real commands: create, start, then per run a
BatchRecorded and a ContinuationScheduled, with a DeliveryFailed before about one run
in five. Measured, best of five: fold of decoded events; decode (`list_decoder`) plus
fold from the stored JSON; and a baseline loop that only counts events by type with one
dict lookup each. No database.
"""

import argparse
import json
import random
import time
from datetime import UTC, datetime, timedelta

from domain.commands import FailDelivery, RecordBatch, StartRun
from domain.events import EVENT_TYPES, encoder, list_decoder
from domain.job import decide, evolve, fold
from domain.kinds import KindConfig, create_job
from domain.state import INITIAL

GOAL_EVENTS_PER_S = 800_000
KIND = KindConfig(max_runs=100_000, delay_s=2.0, backoff_factor=1.0, deadline_s=None)


def stream(length: int, seed: int = 7) -> list:
    """`length` events of one job, decided from commands."""
    rng = random.Random(seed)
    at = datetime(2025, 1, 1, tzinfo=UTC)
    state, events = INITIAL, []

    def apply(command) -> None:
        nonlocal state
        for event in decide(command, state):
            state = evolve(state, event)
            events.append(event)

    apply(create_job("crawl", KIND, owner="bench", at=at, params={"q": "jobs"}))
    apply(StartRun(at=at, run=1))
    while len(events) < length:
        run = state.next_run
        at += timedelta(seconds=2)
        if rng.random() < 0.2:
            apply(FailDelivery(at=at, run=run, attempt=state.attempts + 1, error="upstream 503"))
        results = rng.randint(0, 40)
        apply(RecordBatch(at=at, run=run, results=results, has_more=True, cursor=f"p{run}", duration_ms=180))
    return events[:length]


def best_of(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def count_by_type(events: list) -> dict:
    counts = dict.fromkeys(EVENT_TYPES, 0)
    for event in events:
        counts[type(event)] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="best of 3 instead of 5")
    args = parser.parse_args()
    repeats = 3 if args.quick else 5

    events = stream(args.events)
    payload = b"[" + b",".join(encoder.encode(event) for event in events) + b"]"
    if fold(list_decoder.decode(payload)) != fold(events):
        raise AssertionError("decoded stream folds differently")
    mix = {cls.__name__: n for cls, n in count_by_type(events).items() if n}
    print(f"stream: {len(events):,} events, {len(payload):,} bytes of JSON, mix {mix}")

    n = len(events)
    baseline = n / best_of(repeats, lambda: count_by_type(events))
    folded = n / best_of(repeats, lambda: fold(events))
    decoded = n / best_of(repeats, lambda: fold(list_decoder.decode(payload)))
    decode_only = n / best_of(repeats, lambda: list_decoder.decode(payload))

    print(f"\nevents/s (best of {repeats})")
    print(f"  baseline count-by-type loop  {baseline:14,.0f}")
    print(f"  fold                         {folded:14,.0f}   ({1e6 / folded:.2f} µs/event)")
    print(f"  decode only                  {decode_only:14,.0f}   ({1e6 / decode_only:.2f} µs/event)")
    print(f"  decode + fold                {decoded:14,.0f}   ({1e6 / decoded:.2f} µs/event)")
    goal_ratio = folded / GOAL_EVENTS_PER_S
    print("\nratios")
    print(
        f"  fold/goal ({GOAL_EVENTS_PER_S:,}/s)        {goal_ratio:8.2f}x   goal >= 1  "
        f"{'MET' if goal_ratio >= 1 else 'NOT MET'}"
    )
    print(f"  fold/baseline                {folded / baseline:8.2f}x")
    print(f"  decode+fold/fold             {decoded / folded:8.2f}x")
    print(
        json.dumps(
            {
                "bench": "fold",
                "events": n,
                "fold_events_per_s": round(folded),
                "decode_fold_events_per_s": round(decoded),
                "baseline_events_per_s": round(baseline),
                "fold_vs_goal": round(goal_ratio, 3),
                "goal_events_per_s": GOAL_EVENTS_PER_S,
                "goal_met": goal_ratio >= 1,
                "fold_vs_baseline": round(folded / baseline, 3),
                "decode_fold_vs_fold": round(decoded / folded, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
