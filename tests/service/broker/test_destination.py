import pytest

from service.broker.destination import destination
from service.broker.errors import BadRequest


def test_the_destination_is_the_raw_path_plus_the_query_without_our_parameters() -> None:
    scope = {
        "path": "/v2/publish/https:/example.com/hook",
        "raw_path": b"/v2/publish/https://example.com/hook?a=1",
        "query_string": b"a=1&b=two%20x&qstash_token=secret&upstash-retries=2",
    }

    url, config = destination(scope, "/v2/publish/")

    assert url == "https://example.com/hook?a=1&b=two%20x"
    assert config == {"upstash-retries": "2"}


@pytest.mark.parametrize(
    "raw_path",
    [b"/v2/publish/example.com/hook", b"/v2/publish/jobs", b"/v2/publish/https://"],
)
def test_anything_but_an_http_url_is_refused(raw_path: bytes) -> None:
    with pytest.raises(BadRequest, match="invalid destination url"):
        destination({"path": "", "raw_path": raw_path, "query_string": b""}, "/v2/publish/")
