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


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer
        ("CRON_TZ=Europe/Berlin 0 9 * * *", SATURDAY_EVENING, datetime(2026, 11, 22, 8, 0, tzinfo=UTC)),
        ("CRON_TZ=Europe/Berlin 0 9 * * *", datetime(2027, 6, 1, tzinfo=UTC), datetime(2027, 6, 1, 7, 0, tzinfo=UTC)),
        ("TZ=Europe/Berlin 0 9 * * *", datetime(2027, 6, 1, tzinfo=UTC), datetime(2027, 6, 1, 7, 0, tzinfo=UTC)),
        # 02:30 does not exist in New York on the spring change: it fires at the end of the gap
        (
            "CRON_TZ=America/New_York 30 2 * * *",
            datetime(2027, 3, 14, 5, 0, tzinfo=UTC),
            datetime(2027, 3, 14, 7, 0, tzinfo=UTC),
        ),
    ],
)
def test_a_cron_tz_prefix_fires_on_that_zones_wall_clock(expression: str, after: datetime, expected: datetime) -> None:
    cron = parse_cron(expression)

    assert cron.next_after(after) == expected
    assert cron.matches(expected)
    assert not cron.matches(expected.replace(minute=1))


@pytest.mark.parametrize(
    ("expression", "names"),
    [("CRON_TZ=Mars/Olympus 0 9 * * *", "Mars/Olympus"), ("CRON_TZ=UTC 0 9 * *", "five fields")],
)
def test_a_bad_zone_or_expression_after_the_prefix_is_rejected_by_name(expression: str, names: str) -> None:
    with pytest.raises(InvalidCron, match=names):
        parse_cron(expression)
