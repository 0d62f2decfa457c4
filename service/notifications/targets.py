"""Where a notification may go: https endpoints on the public internet.

A `notify_url` or endpoint is checked when it is given (a 422 naming the field) and
again by the relay just before each publish, since a name may resolve elsewhere by then.
Plain http is allowed only to loopback and only in development (a dev broker: the local
one or a dev server, the only QStash that can reach loopback at all). Private, loopback,
link-local and other non-global addresses are refused unless the operator allows them
(JOBTRAIL_ALLOW_PRIVATE_WEBHOOKS), so a client cannot make QStash call into the
operator's network. QStash resolves the name again when it delivers, so a name that
changes its answer between our check and that delivery (DNS rebinding) is not caught
here: docs/notifications.md says so.
"""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000
RESOLVE_TIMEOUT_S = 3.0

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedTarget(ValueError):
    """A URL jobtrail will not send notifications to; the message says why."""


def checked_shape(url: str) -> tuple[str, str]:
    """(scheme, host) of a well-formed http(s) URL without credentials."""
    if len(url) > MAX_URL_LENGTH:
        raise RefusedTarget(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if not url.isascii() or any(character <= " " or character == "\x7f" for character in url):
        raise RefusedTarget("must be printable ASCII (percent-encode the path, punycode the host)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError as error:
        raise RefusedTarget(f"not a valid URL: {error}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RefusedTarget("must be an absolute https:// URL")
    if parts.username is not None or parts.password is not None:
        raise RefusedTarget("must not carry credentials")
    return parts.scheme, parts.hostname


async def resolve(host: str) -> list[Address]:
    """The addresses `host` names: itself if an IP literal, else what DNS answers."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            found = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        raise RefusedTarget(f"the host {host!r} does not resolve") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]


def judge(scheme: str, addresses: list[Address], *, development: bool, allow_private: bool) -> None:
    """Refuse what the rules above forbid, naming the first address at fault."""
    for address in addresses:
        if address.is_loopback:
            if not (development or allow_private):
                raise RefusedTarget(f"resolves to a loopback address ({address})")
        elif scheme == "http":
            raise RefusedTarget("must use https (http is allowed only to loopback in development)")
        elif not address.is_global and not allow_private:
            raise RefusedTarget(f"resolves to a private or reserved address ({address})")
    if scheme == "http" and not development:
        raise RefusedTarget("must use https (http is allowed only to loopback in development)")


async def check_target(url: str, *, development: bool, allow_private: bool) -> None:
    scheme, host = checked_shape(url)
    judge(scheme, await resolve(host), development=development, allow_private=allow_private)
