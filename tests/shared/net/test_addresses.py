"""Which URL hosts point inside a network, judged without DNS."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.net.addresses import is_allowed, is_globally_routable, is_internal_host

TESTS = (ipaddress.ip_network("127.0.0.2/32"),)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1", "127.1", "0x7f000001", "2130706433", "0177.0.0.1", "0.0.0.0",
        "10.0.0.5", "172.16.0.1", "192.168.1.1", "100.64.0.1", "169.254.169.254",
        "[::1]", "::1", "[::ffff:7f00:1]", "[fe80::1]", "fe80::1%eth0", "[fd00::1]",
        "localhost", "LOCALHOST.", "api.localhost", "intranet", "router",
        "metadata.google.internal", "yazici.local", "nas.home.arpa", "srv.corp", "pc.lan",
        "", "256.1.1.1", "1.2.3.4.5", "[::g]",
    ],
)  # fmt: skip
def test_internal_hosts_are_recognised(host: str) -> None:
    assert is_internal_host(host)
    assert is_internal_host(host, TESTS)  # none of them is the allowed 127.0.0.2


@pytest.mark.parametrize(
    "host",
    ["img.example.com.tr", "IMG.Example.COM.tr.", "93.184.215.14", "[2001:4860::8888]",
     "xn--bcher-kva.example", "cdn.localhost.example.com", "local.example.com"],
)  # fmt: skip
def test_public_hosts_are_not_internal(host: str) -> None:
    assert not is_internal_host(host)


def test_an_allowed_network_makes_its_addresses_usable_and_nothing_else() -> None:
    assert not is_internal_host("127.0.0.2", TESTS)
    assert not is_internal_host("[::1]", (ipaddress.ip_network("::1/128"),))
    assert is_internal_host("127.0.0.1", TESTS)
    # localhost is 127.0.0.1 and ::1: usable only when both are allowed.
    assert is_internal_host("localhost", TESTS)
    both = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    assert not is_internal_host("localhost", both)
    # Names have no address to allow without DNS.
    assert is_internal_host("intranet", (ipaddress.ip_network("0.0.0.0/0"),))


@settings(max_examples=500, derandomize=True, deadline=None)
@given(st.ip_addresses())
def test_an_ip_literal_is_internal_exactly_when_the_fetcher_would_refuse_it(address) -> None:
    host = f"[{address}]" if address.version == 6 else str(address)
    assert is_internal_host(host) == (not is_globally_routable(address))
    assert is_internal_host(host, TESTS) == (not is_allowed(address, TESTS))
