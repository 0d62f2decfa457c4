"""Where a notification may go: https to public addresses, loopback only in development,
private networks only when the operator allows them, whatever spelling names the address."""

import ipaddress

import pytest

from service.notifications.targets import Address, RefusedTarget, check_target, judge

pytestmark = pytest.mark.anyio

PUBLIC = ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "::ffff:8.8.8.8"]
LOOPBACK = ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"]
PRIVATE = [
    "10.0.0.7",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "fc00::1",
    "fd12:3456::1",
    "169.254.169.254",  # cloud metadata services
    "fe80::1",
    "0.0.0.0",
    "::",
    "100.64.0.1",  # carrier-grade NAT
    "::ffff:10.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
]
MULTICAST = ["224.0.0.1", "239.255.255.250", "ff02::1", "::ffff:224.0.0.251"]
# Numeric spellings of 127.0.0.1 that the system resolver accepts (inet_aton's rules).
LOOPBACK_SPELLINGS = ["2130706433", "0177.0.0.1", "0x7f.1", "127.1", "0x7f000001"]


def addresses(*texts: str) -> list[Address]:
    return [ipaddress.ip_address(text) for text in texts]


def refusal(scheme: str, address: str, *, development: bool = False, allow_private: bool = False) -> str | None:
    try:
        judge(scheme, addresses(address), development=development, allow_private=allow_private)
    except RefusedTarget as error:
        return str(error)
    return None


def resolving(*answer: str):
    async def resolver(host: str) -> list[Address]:
        return addresses(*answer)

    return resolver


@pytest.mark.parametrize("address", PUBLIC)
def test_https_to_a_public_address_is_accepted_in_production_and_in_development(address):
    assert refusal("https", address) is None
    assert refusal("https", address, development=True) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_plain_http_to_a_public_address_is_refused_even_in_development(address):
    assert "must use https" in refusal("http", address)
    assert "must use https" in refusal("http", address, development=True)
    assert "must use https" in refusal("http", address, allow_private=True)


@pytest.mark.parametrize("address", LOOPBACK)
def test_loopback_is_refused_outside_development_and_allowed_over_http_in_it(address):
    assert refusal("https", address) == f"resolves to a loopback address ({ipaddress.ip_address(address)})"
    assert "must use https" in refusal("http", address, allow_private=True)  # http only in development
    assert refusal("http", address, development=True) is None
    assert refusal("https", address, development=True) is None


@pytest.mark.parametrize("address", PRIVATE)
def test_private_link_local_unspecified_and_embedded_ipv4_addresses_are_refused_naming_the_address(address):
    named = ipaddress.ip_address(address)
    assert refusal("https", address) == f"resolves to a private or reserved address ({named})"
    assert refusal("https", address, development=True) == refusal("https", address)
    assert "must use https" in refusal("http", address, development=True)


@pytest.mark.parametrize("address", PRIVATE + LOOPBACK)
def test_jobtrail_allow_private_webhooks_lets_https_reach_them(address):
    assert refusal("https", address, allow_private=True) is None


@pytest.mark.parametrize("address", MULTICAST)
def test_multicast_is_refused_whatever_the_operator_allows(address):
    for development in (False, True):
        expected = f"resolves to a multicast address ({ipaddress.ip_address(address)})"
        assert refusal("https", address, development=development, allow_private=True) == expected


def test_one_private_address_among_public_ones_refuses_the_name():
    with pytest.raises(RefusedTarget, match=r"private or reserved address \(10\.1\.2\.3\)"):
        judge("https", addresses("93.184.215.14", "10.1.2.3"), development=False, allow_private=False)


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
async def test_numeric_spellings_of_loopback_are_judged_as_the_resolver_reads_them(host):
    with pytest.raises(RefusedTarget, match=r"loopback address \(127\.0\.0\.1\)"):
        await check_target(f"https://{host}/hook", development=False, allow_private=False)


async def test_localhost_is_a_loopback_name_allowed_only_in_development():
    with pytest.raises(RefusedTarget, match="loopback address"):
        await check_target("https://localhost/hook", development=False, allow_private=False)
    await check_target("http://localhost:9000/hook", development=True, allow_private=False)


async def test_a_name_that_resolves_to_a_private_address_is_refused():
    with pytest.raises(RefusedTarget, match=r"private or reserved address \(192\.168\.0\.10\)"):
        await check_target(
            "https://hooks.example.com/x", development=False, allow_private=False, resolver=resolving("192.168.0.10")
        )
    await check_target(
        "https://hooks.example.com/x", development=False, allow_private=True, resolver=resolving("192.168.0.10")
    )
    await check_target(
        "https://hooks.example.com/x", development=False, allow_private=False, resolver=resolving("8.8.4.4")
    )


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/x", "absolute https"),
        ("//example.com/x", "absolute https"),
        ("https://user:pw@example.com/x", "credentials"),
        ("https://example.com:99999/x", "not a valid URL"),
        ("https://exämple.com/x", "printable ASCII"),
        ("https://example.com/a b", "printable ASCII"),
        ("https://example.com/" + "a" * 2000, "longer than"),
    ],
)
async def test_malformed_urls_are_refused_before_any_lookup(url, why):
    async def never(host: str) -> list[Address]:
        raise AssertionError("looked up a malformed URL")

    with pytest.raises(RefusedTarget, match=why):
        await check_target(url, development=True, allow_private=True, resolver=never)
