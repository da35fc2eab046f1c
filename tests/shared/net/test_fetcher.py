"""The guarded fetcher against real local servers: the SSRF matrix, limits, and plain fetches.

A "public" server on 127.0.0.2 (allowed by the policy, standing in for a public host) and a
"forbidden" one on 127.0.0.1 (and ::1 where IPv6 exists) listen on the same port, so any
request the guard lets through to a forbidden address lands on a server that counts it.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.net.addresses import is_globally_routable, parse_numeric_host
from shared.net.fetcher import (
    Fetcher,
    FetchError,
    FetchFailed,
    FetchPolicy,
    FetchRefused,
    FetchResult,
)
from shared.settings import Settings
from tests.shared.net.fetch_servers import (
    LocalServer,
    RecordingResolver,
    start_on_port,
    start_pair,
    tls_server,
)

ALLOWED = (ipaddress.ip_network("127.0.0.2/32"),)
DEADLINE_S = 1.5  # of the fetches that must be cut by it
SLACK_DEADLINE_S = 60.0  # of the fetches that something else must end first


@dataclass
class Servers:
    public: LocalServer
    forbidden: list[LocalServer]

    @property
    def port(self) -> int:
        return self.public.port

    def forbidden_hits(self) -> int:
        return sum(server.connections + server.requests for server in self.forbidden)


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    public, forbidden = start_pair("127.0.0.2", "127.0.0.1")
    forbidden6 = start_on_port("forbidden6", "::1", public.port)
    running = Servers(public, [forbidden] + ([forbidden6] if forbidden6 else []))
    yield running
    for server in [public, *running.forbidden]:
        server.stop()


@pytest.fixture(autouse=True)
def nothing_reaches_forbidden(servers: Servers) -> Iterator[None]:
    servers.public.reset()
    yield
    assert servers.forbidden_hits() == 0


@pytest.fixture
def resolver() -> RecordingResolver:
    return RecordingResolver(
        {
            "public.test": ["127.0.0.2"],
            "internal.test": ["127.0.0.1"],
            "mixed.test": ["127.0.0.2", "127.0.0.1"],
        }
    )


def make_fetcher(resolver: RecordingResolver, **policy: Any) -> Fetcher:
    return Fetcher(FetchPolicy(allow_networks=ALLOWED, **policy), resolver)


@pytest.fixture
def fetcher(resolver: RecordingResolver) -> Fetcher:
    return make_fetcher(resolver, deadline_s=5.0, max_bytes=1024 * 1024)


def echo(result: FetchResult) -> dict[str, Any]:
    """What the server's /echo route saw of the request."""
    return json.loads(result.body)


# --- the SSRF matrix -------------------------------------------------------------------------

# Hosts that are addresses, however spelled: refused without ever asking the resolver.
LITERAL_URLS = [
    "http://127.0.0.1:{port}/echo",
    "http://127.1:{port}/echo",
    "http://0x7f000001:{port}/echo",
    "http://2130706433:{port}/echo",
    "http://0177.0.0.1:{port}/echo",
    "http://017700000001:{port}/echo",
    "http://0x7f.0.0.1:{port}/echo",
    "http://127.0.0.1.:{port}/echo",
    "http://0:{port}/echo",
    "http://0.0.0.0:{port}/echo",
    "http://[::1]:{port}/echo",
    "http://[::ffff:127.0.0.1]:{port}/echo",
    "http://[::ffff:7f00:1]:{port}/echo",
    "http://[::127.0.0.1]:{port}/echo",
    "http://[64:ff9b::7f00:1]:{port}/echo",
    "http://[2002:7f00:1::1]:{port}/echo",
    "http://[fe80::1%25lo]:{port}/echo",
    "http://[fc00::1]:{port}/echo",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://256.0.0.1/",
    "http://1.2.3.4.5/",
    "http://08.0.0.1/",
    # urlsplit reads the host as public.test, requests as 127.0.0.1: the request's view wins.
    "http://127.0.0.1:{port}\\@public.test:{port}/echo",
    "HTTP://127.0.0.1:{port}/echo",
]
OTHER_SCHEMES = [
    "file:///etc/passwd",
    "gopher://127.0.0.1:{port}/_GET%20/",
    "ftp://127.0.0.1:{port}/",
    "dict://127.0.0.1:{port}/",
    "data:text/plain,hello",
    "//127.0.0.1:{port}/echo",
    "127.0.0.1:{port}/echo",
]


@pytest.mark.parametrize("template", LITERAL_URLS + OTHER_SCHEMES)
def test_refused_before_any_lookup_or_connection(
    template: str, servers: Servers, fetcher: Fetcher, resolver: RecordingResolver
) -> None:
    with pytest.raises(FetchRefused):
        fetcher.get(template.format(port=servers.port))
    assert resolver.calls == []
    assert servers.forbidden_hits() == 0


@pytest.mark.parametrize("host", ["internal.test", "mixed.test"])
def test_refused_when_any_resolved_address_is_not_allowed(
    host: str, servers: Servers, fetcher: Fetcher, resolver: RecordingResolver
) -> None:
    with pytest.raises(FetchRefused):
        fetcher.get(f"http://{host}:{servers.port}/echo")
    assert resolver.calls == [(host, servers.port)]
    assert servers.forbidden_hits() == 0


def test_credentials_in_url_are_refused(servers: Servers, fetcher: Fetcher) -> None:
    with pytest.raises(FetchRefused):
        fetcher.get(f"http://user:secret@public.test:{servers.port}/echo")
    assert servers.public.connections == 0


def test_rebinding_connects_to_the_one_checked_answer(
    servers: Servers, fetcher: Fetcher, resolver: RecordingResolver
) -> None:
    # A second lookup of rebind.test would answer 127.0.0.1, where the forbidden server waits.
    resolver.answer("rebind.test", ["127.0.0.2"], ["127.0.0.1"])
    result = fetcher.get(f"http://rebind.test:{servers.port}/echo")
    assert echo(result)["server"] == "public"
    assert echo(result)["headers"]["Host"] == f"rebind.test:{servers.port}"
    assert resolver.calls == [("rebind.test", servers.port)]
    assert servers.forbidden_hits() == 0
    # The next request does see the rebound answer, and is refused.
    with pytest.raises(FetchRefused):
        fetcher.get(f"http://rebind.test:{servers.port}/echo")
    assert servers.forbidden_hits() == 0


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/echo",
        "http://2130706433:{port}/echo",
        "http://[::1]:{port}/echo",
        "http://internal.test:{port}/echo",
        "file:///etc/passwd",
        "gopher://127.0.0.1:{port}/",
    ],
)
@pytest.mark.parametrize("status", [302, 307])
def test_redirect_to_a_forbidden_target_is_refused(
    target: str, status: int, servers: Servers, fetcher: Fetcher
) -> None:
    to = target.format(port=servers.port)
    with pytest.raises(FetchRefused):
        fetcher.get(
            f"http://public.test:{servers.port}/redirect", params={"to": to, "status": str(status)}
        )
    assert servers.public.requests == 1
    assert servers.forbidden_hits() == 0


def test_three_redirects_are_followed_a_fourth_fails(servers: Servers, fetcher: Fetcher) -> None:
    result = fetcher.get(f"http://public.test:{servers.port}/chain/3")
    assert (result.status, result.body) == (200, b"end of chain")
    assert result.url == f"http://public.test:{servers.port}/chain/0"
    servers.public.reset()
    with pytest.raises(FetchFailed, match="redirects"):
        fetcher.get(f"http://public.test:{servers.port}/chain/4")
    assert servers.public.requests == 4  # the fourth redirect is not followed


def test_endless_body_is_cut_by_the_cap(servers: Servers, resolver: RecordingResolver) -> None:
    # A deadline far beyond the time the cap needs: only the cap can end this fetch.
    fetcher = make_fetcher(resolver, max_bytes=200_000, deadline_s=SLACK_DEADLINE_S)
    with pytest.raises(FetchFailed, match="cap"):
        fetcher.get(f"http://public.test:{servers.port}/endless")


def test_content_length_over_the_cap_is_refused_early(
    servers: Servers, resolver: RecordingResolver
) -> None:
    # The body would pass the cap with its first KB too; the error names the header, so the
    # fetch was refused on it, before any of the body was read.
    fetcher = make_fetcher(resolver, max_bytes=1000, deadline_s=SLACK_DEADLINE_S)
    with pytest.raises(FetchFailed, match="Content-Length"):
        fetcher.get(f"http://public.test:{servers.port}/huge")


def cut_at_the_deadline(fetcher: Fetcher, url: str, **params: str) -> float:
    """Fetch `url`, which never finishes; the fetch must fail on its deadline, never before
    it, and long before the server would have finished. Returns how long it took."""
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="deadline"):
        fetcher.get(url, params=params or None)
    took = time.monotonic() - started
    print(f"cut after {took:.2f} s (deadline {DEADLINE_S} s)")
    assert took >= DEADLINE_S, f"cut {DEADLINE_S - took:.3f} s before the deadline"
    # Generous: the servers drip for many minutes, and a per-read timeout never fires.
    assert took < 10 * DEADLINE_S, f"not cut by the deadline: {took:.1f} s"
    return took


@pytest.mark.parametrize("path", ["/drip", "/dripheaders"])
def test_dripping_server_is_cut_at_the_deadline(
    path: str, servers: Servers, resolver: RecordingResolver
) -> None:
    fetcher = make_fetcher(resolver, deadline_s=DEADLINE_S)
    cut_at_the_deadline(fetcher, f"http://public.test:{servers.port}{path}")


def test_deadline_covers_redirect_hops(servers: Servers, resolver: RecordingResolver) -> None:
    fetcher = make_fetcher(resolver, deadline_s=DEADLINE_S)
    url = f"http://public.test:{servers.port}/redirect"
    cut_at_the_deadline(fetcher, url, to="/drip", status="302")


def test_connection_refused_is_a_failure(resolver: RecordingResolver) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.2", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchFailed):
        make_fetcher(resolver).get(f"http://public.test:{port}/")


def test_unknown_host_is_a_failure(fetcher: Fetcher) -> None:
    with pytest.raises(FetchFailed, match="resolve"):
        fetcher.get("http://nowhere.test/")


def test_default_resolver_refuses_localhost(servers: Servers) -> None:
    fetcher = Fetcher(FetchPolicy(allow_networks=ALLOWED))
    with pytest.raises(FetchRefused):
        fetcher.get(f"http://localhost:{servers.port}/echo")
    assert servers.forbidden_hits() == 0


# --- ordinary fetches ------------------------------------------------------------------------


def test_get_returns_status_headers_and_body(servers: Servers, fetcher: Fetcher) -> None:
    result = fetcher.get(f"http://public.test:{servers.port}/echo")
    assert result.status == 200
    assert result.headers["content-type"] == "application/json"
    sent = echo(result)
    assert sent["server"] == "public"
    assert sent["method"] == "GET"
    assert sent["headers"]["Host"] == f"public.test:{servers.port}"
    assert sent["headers"]["User-Agent"] == FetchPolicy().user_agent


def test_an_allowed_address_literal_is_fetched(servers: Servers, fetcher: Fetcher) -> None:
    result = fetcher.get(f"http://127.0.0.2:{servers.port}/echo")
    assert echo(result)["headers"]["Host"] == f"127.0.0.2:{servers.port}"


def test_post_sends_data_and_headers(servers: Servers, fetcher: Fetcher) -> None:
    result = fetcher.post(
        f"http://public.test:{servers.port}/echo",
        data="güncel haber".encode(),
        headers={"Content-Type": "text/plain; charset=utf-8", "X-Hub-Signature": "sha256=ab"},
    )
    sent = echo(result)
    assert (sent["method"], sent["body"]) == ("POST", "güncel haber")
    assert sent["headers"]["Content-Type"] == "text/plain; charset=utf-8"
    assert sent["headers"]["X-Hub-Signature"] == "sha256=ab"


def test_params_are_encoded(servers: Servers, fetcher: Fetcher) -> None:
    result = fetcher.get(
        f"http://public.test:{servers.port}/echo", params={"q": "şehir haberleri", "page": "2"}
    )
    assert echo(result)["path"] == "/echo?q=%C5%9Fehir+haberleri&page=2"


def test_non_2xx_is_a_result(servers: Servers, fetcher: Fetcher) -> None:
    result = fetcher.get(f"http://public.test:{servers.port}/status/404")
    assert (result.status, result.body) == (404, b"as asked")


def test_redirects_can_be_left_to_the_caller(servers: Servers, fetcher: Fetcher) -> None:
    to = f"http://127.0.0.1:{servers.port}/echo"  # never followed, so never checked
    result = fetcher.post(
        f"http://public.test:{servers.port}/redirect",
        data=b"{}",
        params={"to": to, "status": "307"},
        follow_redirects=False,
    )
    assert result.status == 307
    assert result.headers["Location"] == to
    assert result.body == b"moved"
    assert servers.public.requests == 1


@pytest.mark.parametrize(("status", "method", "body"), [(303, "GET", ""), (307, "POST", "hi")])
def test_redirect_after_post(
    status: int, method: str, body: str, servers: Servers, fetcher: Fetcher
) -> None:
    result = fetcher.post(
        f"http://public.test:{servers.port}/redirect",
        data=b"hi",
        params={"to": "/echo", "status": str(status)},
    )
    assert (echo(result)["method"], echo(result)["body"]) == (method, body)
    assert result.url == f"http://public.test:{servers.port}/echo"


def test_credentials_stay_with_their_origin(servers: Servers, fetcher: Fetcher) -> None:
    def sent_after_redirect_to(to: str) -> dict[str, Any]:
        result = fetcher.get(
            f"http://public.test:{servers.port}/redirect",
            params={"to": to, "status": "307"},
            headers={"Authorization": "Bearer hub-secret", "X-Trace": "1"},
        )
        return echo(result)["headers"]

    same_origin = sent_after_redirect_to("/echo")
    assert same_origin["Authorization"] == "Bearer hub-secret"
    other_origin = sent_after_redirect_to(f"http://127.0.0.2:{servers.port}/echo")
    assert "Authorization" not in other_origin
    assert other_origin["X-Trace"] == "1"


def test_proxy_environment_is_ignored(
    servers: Servers, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{servers.port}")
    assert echo(fetcher.get(f"http://public.test:{servers.port}/echo"))["server"] == "public"


def test_a_malformed_location_is_returned_when_not_following(
    servers: Servers, fetcher: Fetcher
) -> None:
    result = fetcher.get(
        f"http://public.test:{servers.port}/redirect",
        params={"to": "http://[::1"},
        follow_redirects=False,
    )
    assert (result.status, result.headers["Location"]) == (302, "http://[::1")
    with pytest.raises(FetchRefused):
        fetcher.get(f"http://public.test:{servers.port}/redirect", params={"to": "http://[::1"})


def test_one_fetcher_serves_many_threads(servers: Servers, fetcher: Fetcher) -> None:
    url = f"http://public.test:{servers.port}/echo"
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: fetcher.get(url, params={"n": str(n)}), range(32)))
    assert sorted(echo(r)["path"] for r in results) == sorted(f"/echo?n={n}" for n in range(32))


# --- https: the connection goes to the pinned address, TLS speaks to the host name -------------

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@needs_openssl
def test_https_uses_the_host_name_for_sni_and_certificate(
    tmp_path: Path, resolver: RecordingResolver
) -> None:
    resolver.answer("other.test", ["127.0.0.2"])
    with tls_server(tmp_path, "127.0.0.2", "public.test") as (server, ca_file):
        fetcher = make_fetcher(resolver, ca_bundle=str(ca_file))
        result = fetcher.get(f"https://public.test:{server.port}/echo")
        assert echo(result)["sni"] == "public.test"
        assert echo(result)["headers"]["Host"] == f"public.test:{server.port}"
        with pytest.raises(FetchFailed):  # same address, but not the certificate's name
            fetcher.get(f"https://other.test:{server.port}/echo")
        with pytest.raises(FetchFailed):  # the default CA bundle does not know the test CA
            make_fetcher(resolver).get(f"https://public.test:{server.port}/echo")
    assert resolver.calls.count(("public.test", server.port)) == 2


# --- units -----------------------------------------------------------------------------------

NOT_ROUTABLE = [
    "127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3", "10.0.0.1", "172.16.0.1",
    "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "100.100.100.200",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.1",
    "198.18.0.1", "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "fec0::1", "ff02::1",
    "ff0e::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::127.0.0.1", "::ffff:0:a00:1",
    "64:ff9b::a9fe:a9fe", "64:ff9b:1::1", "2002:7f00:1::1", "2002:a00:1::",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:db8::1", "100::1",
]  # fmt: skip
ROUTABLE = [
    "8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.1",
    "2606:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808",
    "2002:808:808::1",
]  # fmt: skip


@pytest.mark.parametrize("address", NOT_ROUTABLE)
def test_not_globally_routable(address: str) -> None:
    assert not is_globally_routable(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ROUTABLE)
def test_globally_routable(address: str) -> None:
    assert is_globally_routable(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "spelling",
    ["127.1", "0x7f000001", "2130706433", "0177.0.0.1", "017700000001", "0x7F.1", "10.0.0.1"],
)
def test_numeric_hosts_mean_what_inet_aton_says(spelling: str) -> None:
    expected = ipaddress.IPv4Address(socket.inet_aton(spelling))
    assert parse_numeric_host(spelling.lower()) == expected


@pytest.mark.parametrize(
    "host", ["example.com", "haber.example.com.tr", "1password.com", "0x7f.com"]
)
def test_names_are_not_numbers(host: str) -> None:
    assert parse_numeric_host(host) is None


@pytest.mark.parametrize(
    "host", ["0x", "256.0.0.1", "1.2.3.4.5", "08.0.0.1", "1_0.0.0.1", "news.123"]
)
def test_malformed_numbers_are_refused_not_looked_up(host: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        parse_numeric_host(host)


def test_both_errors_are_fetch_errors() -> None:
    assert issubclass(FetchRefused, FetchError)
    assert issubclass(FetchFailed, FetchError)


def test_policy_from_settings() -> None:
    settings = Settings(
        fetch_allow_networks=["127.0.0.2/32", "fd00::/8"], fetch_deadline_s=2.5, fetch_max_bytes=99
    )
    policy = FetchPolicy.from_settings(settings)
    assert policy.allow_networks == (
        ipaddress.ip_network("127.0.0.2/32"),
        ipaddress.ip_network("fd00::/8"),
    )
    assert (policy.deadline_s, policy.max_bytes, policy.max_redirects) == (2.5, 99, 3)
