"""The flow control a run is published with: a key per kind or per kind and owner, the kind's limits."""

import re

from domain.kinds import KindConfig
from service.qstash.flow_control import flow_control, flow_control_key

QSTASH_NAME = re.compile(r"[A-Za-z0-9._-]+")


def test_a_kind_without_limits_publishes_without_flow_control():
    assert flow_control("demo.count", KindConfig(), "acme") is None


def test_a_kind_scoped_key_is_shared_by_every_owner():
    config = KindConfig(parallelism=2)

    assert flow_control_key("crawl", config, "acme") == flow_control_key("crawl", config, "globex") == "jobtrail.crawl"
    assert flow_control("crawl", config, "acme") == {"key": "jobtrail.crawl", "parallelism": 2}


def test_an_owner_scoped_key_is_one_per_owner_and_does_not_name_the_owner():
    config = KindConfig(rate=5, period_s=60, flow_scope="owner")

    acme, globex = flow_control_key("crawl", config, "acme@example.com"), flow_control_key("crawl", config, "globex")

    assert acme != globex
    assert acme.startswith("jobtrail.crawl.") and "acme" not in acme
    assert flow_control("crawl", config, "globex") == {"key": globex, "rate": 5, "period": 60}


def test_keys_use_only_the_characters_qstash_takes_in_names_whatever_the_kind_is_called():
    config = KindConfig(parallelism=1, flow_scope="owner")

    key = flow_control_key("reports/weekly summary", config, "ünïcode owner")

    assert QSTASH_NAME.fullmatch(key)
    assert key != flow_control_key("reports/weekly-summary", config, "ünïcode owner")
