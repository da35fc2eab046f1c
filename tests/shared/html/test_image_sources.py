"""Images in sanitized HTML never point inside a network: a reader's browser would load them
from the reader's own network."""

from __future__ import annotations

import ipaddress

import pytest

from shared.html.sanitize import sanitize_html

ARTICLE = "https://haber.example.com.tr/dunya/haber"
TESTS = (ipaddress.ip_network("127.0.0.2/32"),)


@pytest.mark.parametrize(
    "src",
    [
        "http://127.0.0.1/a.jpg", "https://localhost:8443/a.jpg", "//10.0.0.5/a.jpg",
        "http://169.254.169.254/latest/meta-data/", "http://[::1]/a.jpg",
        "http://[::ffff:127.0.0.1]/a.jpg", "http://0x7f000001/a.jpg", "http://2130706433/a.jpg",
        "http://%31%32%37.0.0.1/a.jpg", "http://１２７.０.０.１/a.jpg", "http://ⓛocalhost/a.jpg",
        "http://metadata.google.internal/x", "http://intranet/a.jpg", "http:intranet/a.jpg",
        "http://yazici.local/a.jpg", "http://256.1.1.1/a.jpg", "http://[fe80::1%25eth0]/a.jpg",
        "http://127.0.0.2/a.jpg",  # allowed only when the caller says so
    ],
)  # fmt: skip
def test_an_image_from_inside_a_network_loses_its_source(src: str) -> None:
    html = sanitize_html(f'<p>önce<img src="{src}" alt="Lavrov">sonra</p>', ARTICLE)
    assert html == '<p>önce<img alt="Lavrov">sonra</p>'


@pytest.mark.parametrize(
    ("src", "kept"),
    [
        ("https://img.example.com.tr/a.jpg", "https://img.example.com.tr/a.jpg"),
        ("/static/a.jpg", "https://haber.example.com.tr/static/a.jpg"),
        ("a.jpg", "https://haber.example.com.tr/dunya/a.jpg"),
        ("//cdn.example.com/a.jpg", "https://cdn.example.com/a.jpg"),
    ],
)
def test_a_public_or_relative_image_keeps_its_source(src: str, kept: str) -> None:
    assert sanitize_html(f'<img src="{src}">', ARTICLE) == f'<img src="{kept}">'


def test_an_allowed_network_keeps_its_images_and_only_those() -> None:
    html = sanitize_html(
        '<img src="http://127.0.0.2:8080/a.jpg"><img src="http://127.0.0.1:8080/a.jpg">',
        ARTICLE,
        allow_networks=TESTS,
    )
    assert html == '<img src="http://127.0.0.2:8080/a.jpg"><img>'


def test_links_to_internal_hosts_are_left_alone() -> None:
    # A link is followed only when a reader chooses to; an image loads on sight.
    html = '<a href="http://intranet/wiki">iç ağ</a>'
    assert 'href="http://intranet/wiki"' in sanitize_html(html, ARTICLE)
