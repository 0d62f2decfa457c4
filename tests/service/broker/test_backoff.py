import pytest

from service.broker.backoff import (
    InvalidExpression,
    compile_retry_delay,
    default_backoff_s,
    hinted_delay_s,
    retry_delay_s,
)
from service.broker.durations import InvalidDuration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("1d10h30m", 124200), ("500ms", 0.5), ("2h", 7200), ("90", 90)],
)
def test_durations_add_up_their_parts(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "s10", "1.5.2s", "10s 5m"])
def test_malformed_durations_are_rejected(text: str) -> None:
    with pytest.raises(InvalidDuration):
        parse_duration(text)


@pytest.mark.parametrize(
    ("expression", "retried", "seconds"),
    [
        ("1000", 0, 1.0),
        ("1000 * (1 + retried)", 2, 3.0),
        ("pow(2, retried) * 1000", 3, 8.0),
        ("max(10, min(50, 10 * retried))", 4, 0.04),
        (
            "floor(sqrt(retried)) * 1000 + abs(-1) + ceil(0.2) + round(0.4) + exp(0) - 3",
            4,
            2.0,
        ),
        ("pow(10, 10000)", 1, 86400.0),
    ],
)
def test_retry_delay_expressions_are_milliseconds_of_retried(expression: str, retried: int, seconds: float) -> None:
    assert retry_delay_s(expression, retried) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "retried.real",
        "[1]",
        "lambda: 1",
        "x",
        "min + 1",
        "'1'",
        "True",
        "open(1)",
    ],
)
def test_anything_but_arithmetic_is_rejected(expression: str) -> None:
    with pytest.raises(InvalidExpression):
        compile_retry_delay(expression)


def test_the_default_backoff_is_e_to_the_2_5_n_capped_at_a_day() -> None:
    assert [round(default_backoff_s(n)) for n in (1, 2, 3)] == [12, 148, 1808]
    assert default_backoff_s(5) == default_backoff_s(500) == 86400


def test_the_destination_can_hint_the_next_retry() -> None:
    assert hinted_delay_s({"retry-after": "7"}, now=0) == 7
    assert hinted_delay_s({"retry-after": "6m5s"}, now=0) == 365
    assert hinted_delay_s({"retry-after": "Thu, 01 Jan 1970 00:01:00 GMT"}, now=0) == 60
    assert hinted_delay_s({"retry-after": "172800"}, now=0) is None
    assert hinted_delay_s({}, now=0) is None
