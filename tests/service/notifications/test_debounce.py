"""The debounce of verdict alerts, for any sequence of observations: a change is announced
only once it has held for the hold time, never twice in a row, and the final verdict is
announced once it has held long enough."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from service.notifications.debounce import AlertRecord, step

VERDICTS = ["healthy", "degraded", "unhealthy"]
START = datetime(2026, 1, 1, tzinfo=UTC)

observations = st.lists(st.tuples(st.sampled_from(VERDICTS), st.integers(0, 120)), max_size=60)
holds = st.integers(0, 300)


def run(seen: list[tuple[str, int]], hold_s: float) -> tuple[AlertRecord, list[tuple[int, str, datetime]]]:
    """Feed the observations (verdict, seconds since the previous one); the announcements
    as (index, verdict, instant)."""
    record, now, announced = AlertRecord(announced="healthy"), START, []
    for index, (verdict, gap_s) in enumerate(seen):
        now += timedelta(seconds=gap_s)
        record, announce = step(record, verdict, now, hold_s)
        if announce:
            announced.append((index, verdict, now))
    return record, announced


def instants(seen: list[tuple[str, int]]) -> list[datetime]:
    at, out = START, []
    for _, gap_s in seen:
        at += timedelta(seconds=gap_s)
        out.append(at)
    return out


def run_start(seen: list[tuple[str, int]], index: int) -> datetime:
    """When the unbroken run of the verdict observed at `index` began."""
    times, verdict = instants(seen), seen[index][0]
    first = index
    while first > 0 and seen[first - 1][0] == verdict:
        first -= 1
    return times[first]


@given(observations, holds)
def test_a_change_is_announced_only_after_it_held_unbroken_for_the_hold_time(seen, hold_s):
    _, announced = run(seen, hold_s)
    for index, verdict, at in announced:
        assert seen[index][0] == verdict
        assert at - run_start(seen, index) >= timedelta(seconds=hold_s)


@given(observations, holds)
def test_the_same_verdict_is_never_announced_twice_in_a_row_nor_the_one_already_announced(seen, hold_s):
    _, announced = run(seen, hold_s)
    verdicts = ["healthy"] + [verdict for _, verdict, _ in announced]
    assert all(before != after for before, after in zip(verdicts, verdicts[1:], strict=False))


@given(observations, holds, st.sampled_from(VERDICTS), st.integers(1, 5))
def test_a_final_verdict_that_holds_long_enough_is_announced(seen, hold_s, final, looks):
    """After any history, `final` observed for the hold time (in several looks) is what
    operators were last told, and is announced at most once more."""
    tail = [(final, 0)] + [(final, -(-hold_s // looks))] * looks
    record, announced = run(seen + tail, hold_s)
    assert record.announced == final
    assert len([a for a in announced if a[0] >= len(seen)]) <= 1


@given(observations, holds)
def test_the_record_after_any_history_says_the_last_announced_verdict(seen, hold_s):
    record, announced = run(seen, hold_s)
    assert record.announced == (announced[-1][1] if announced else "healthy")
