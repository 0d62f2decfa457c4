"""A kind's flow control: positive whole limits, a period of whole seconds up to a week, two scopes."""

import pytest

from domain.kinds import MAX_PERIOD_S, KindConfig


def test_a_kind_has_no_flow_control_unless_it_sets_a_parallelism_or_a_rate():
    assert not KindConfig().flow_controlled
    assert KindConfig(parallelism=2).flow_controlled
    assert KindConfig(rate=5, period_s=60).flow_controlled


@pytest.mark.parametrize(
    "settings",
    [
        {"parallelism": 0},
        {"parallelism": -1},
        {"parallelism": True},
        {"rate": 0},
        {"rate": 2.5},
        {"period_s": 0},
        {"period_s": 1.5},
        {"period_s": MAX_PERIOD_S + 1},
        {"flow_scope": "tenant"},
    ],
    ids=str,
)
def test_a_kind_with_flow_control_out_of_range_is_refused_naming_the_setting(settings):
    with pytest.raises(ValueError, match=next(iter(settings))):
        KindConfig(**settings)


def test_the_longest_period_is_a_week_and_both_scopes_are_accepted():
    assert KindConfig(rate=1, period_s=MAX_PERIOD_S, flow_scope="owner").period_s == 7 * 86400
    assert KindConfig(parallelism=1, flow_scope="kind").flow_scope == "kind"
