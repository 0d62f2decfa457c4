"""The garbage collector while serving: startup's objects frozen, young passes rarer, all undone after."""

import gc

from service.collector import YOUNG_COLLECTION_EVERY, tuned_for_serving


def test_serving_freezes_what_lives_and_collects_less_often_then_puts_both_back() -> None:
    before = gc.get_threshold()
    with tuned_for_serving():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_COLLECTION_EVERY, *before[1:])
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
