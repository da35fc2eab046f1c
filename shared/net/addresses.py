"""Which IP addresses outbound requests may reach, how the C resolver reads numeric hosts, and
which URL hosts point inside a network."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A label the C resolver reads as a number (inet_aton: decimal, 0-octal or 0x-hex).
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
# IPv6 ranges whose low 32 bits are an IPv4 address that traffic ends up at.
_EMBEDS_IPV4_LOW32 = (
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated)
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT)
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64 well-known prefix
)


def is_globally_routable(address: IPAddress) -> bool:
    """Whether `address` is a public unicast address (IPv6 forms embedding IPv4 judged by it)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return False
        embedded = _embedded_ipv4(address)
        if embedded:
            return all(is_globally_routable(inner) for inner in embedded)
        special = address.is_site_local  # fec0::/10 counts as global in `ipaddress`
    else:
        special = address in _CGNAT
    # `is_global` alone lets multicast (224/4, ff0e::/16) through, and CGNAT on older Pythons.
    return address.is_global and not (
        special
        or address.is_multicast
        or address.is_private
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
    )


def is_allowed(address: IPAddress, allow_networks: Iterable[IPNetwork] = ()) -> bool:
    """Whether `address` is globally routable or in one of `allow_networks` (tests, trials)."""
    return any(address in net for net in allow_networks) or is_globally_routable(address)


# Names that only ever mean a host inside a network: multicast DNS (RFC 6762), the home
# network (RFC 8375), ICANN's private-use TLD (which holds cloud metadata names such as
# metadata.google.internal), and TLDs private networks use that will never be delegated.
_INTERNAL_SUFFIXES = (
    "local", "internal", "home.arpa", "localdomain", "lan", "intranet", "corp", "home", "private",
)  # fmt: skip
_LOOPBACK = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1"))


def is_internal_host(host: str, allow_networks: Iterable[IPNetwork] = ()) -> bool:
    """Whether a URL's host points inside a network (the reader's or ours), judged without DNS.

    Internal: an IP literal, in any spelling the C resolver reads, that is not globally
    routable (loopback, private, link-local, metadata, ...) and not in `allow_networks`;
    `localhost` and its subdomains (loopback by definition, RFC 6761), unless allowed; a name
    of one label (resolved through a network's own search domains); a name under a suffix
    only private networks use. A malformed numeric or IPv6 host counts as internal: no
    public host is spelled that way. Public names that resolve to internal addresses are
    not caught here; the guarded fetcher refuses those when it resolves them.
    """
    networks = tuple(allow_networks)
    name = host.strip().lower().removeprefix("[").removesuffix("]").removesuffix(".")
    if not name:
        return True
    try:
        address = parse_numeric_host(name)
    except ValueError:
        return True
    if address is not None:
        return not is_allowed(address, networks)
    if name == "localhost" or name.endswith(".localhost"):
        return not all(is_allowed(loopback, networks) for loopback in _LOOPBACK)
    return "." not in name or name.endswith(tuple("." + s for s in _INTERNAL_SUFFIXES))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if any(address in net for net in _EMBEDS_IPV4_LOW32):
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    return address.teredo or ()  # (server, client)


def parse_numeric_host(host: str) -> IPAddress | None:
    """The address a host spelling denotes to the C resolver, or None if it is a name.

    `127.1`, `0x7f000001`, `2130706433` and `0177.0.0.1` all mean 127.0.0.1 to inet_aton
    (which getaddrinfo uses), so they are read here and never handed to a resolver as names.

    Raises:
        ValueError: the host looks numeric but is no valid address (`256.1.1.1`, `1.2.3.4.5`).
    """
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"malformed IPv6 host {host!r}") from None
    labels = host.removesuffix(".").split(".")
    if not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    # No real name ends in a numeric label (the URL standard reads such a host as IPv4), so
    # one that does must be a valid address: "256.1.1.1" is refused, not looked up.
    try:
        if not all(_NUMERIC_LABEL.fullmatch(label) for label in labels) or len(labels) > 4:
            raise ValueError(host)
        *head, last = [_c_integer(label) for label in labels]
        if any(v > 255 for v in head) or last >= 1 << (8 * (4 - len(head))):
            raise ValueError(host)
    except ValueError:
        raise ValueError(f"malformed numeric host {host!r}") from None
    value = 0
    for part in head:
        value = value << 8 | part
    return ipaddress.IPv4Address(value << (8 * (4 - len(head))) | last)


def _c_integer(label: str) -> int:
    if label.startswith("0x"):
        return int(label[2:], 16)  # "0x" alone is refused, as glibc's inet_aton does
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)
    return int(label, 10)
