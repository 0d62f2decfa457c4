from datetime import UTC, datetime

import pytest

from service.broker.cron import InvalidCron, parse_cron

SATURDAY_EVENING = datetime(2026, 11, 21, 18, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("* * * * *", datetime(2026, 11, 21, 18, 4, tzinfo=UTC)),
        ("*/15 9-17 * * 1-5", datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),
        ("5,35 */2 * * *", datetime(2026, 11, 21, 18, 5, tzinfo=UTC)),
        ("0 0 29 2 *", datetime(2028, 2, 29, 0, 0, tzinfo=UTC)),
        ("0 12 1 * 0", datetime(2026, 11, 22, 12, 0, tzinfo=UTC)),  # day OR weekday
        ("0 0 * * 7", datetime(2026, 11, 22, 0, 0, tzinfo=UTC)),  # 7 is Sunday too
    ],
)
def test_the_next_run_is_the_first_matching_minute_after_now(expression: str, expected: datetime) -> None:
    cron = parse_cron(expression)

    assert cron.next_after(SATURDAY_EVENING) == expected
    assert cron.matches(expected)


@pytest.mark.parametrize(
    "expression",
    ["* * * *", "60 * * * *", "* 24 * * *", "*/0 * * * *", "a * * * *", "5-1 * * * *"],
)
def test_malformed_cron_expressions_are_rejected(expression: str) -> None:
    with pytest.raises(InvalidCron):
        parse_cron(expression)
