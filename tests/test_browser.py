"""The pages for people in a real browser: headless Chromium on `/` and a section's page.

A live stack (redis, ingest, dispatcher, workers, feeds service as processes) gets the
sample corpus over HTTP; Chromium then loads the index and /feeds/sections/dunya.html from
the feeds service, and the rendered DOM must show the Turkish names and headlines.

Screenshots are kept for people to look at, overwritten on every run, in
`test-output/screenshots/` at the repository root (git-ignored): `index.png` and `dunya.png`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import lxml.html
import pytest
from PIL import Image

from devstack.stack import Stack
from tests.conftest import load_corpus, wait_until

# On the stack these modules share (`site_stack`): tests/module_groups.py runs them on one worker.
pytestmark = pytest.mark.processes

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-output" / "screenshots"
WIDTH, HEIGHT = 1280, 2000
DUNYA_TITLES = [
    "Rusya'dan flaş çıkış: Şansımız var",
    "Fırat'ın batısında YPG çözüldü: Suriye ordusu stratejik Tabka’yı ele geçirdi!",
    "İsrailli aşırı sağcı Bakan Smotrich’ten skandal çağrı",
    "Putin'in temsilcisinden olay yaratan çıkış: \"Babanız Trump'ı kışkırtmayın!\"",
]
# Quiet, offline, reproducible: no first-run UI, no background fetches, no GPU.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is not installed: run `make test`, which installs Debian's chromium")
    return found


def run_chromium(profile: Path, *args: str) -> str:
    profile.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def text_of(stack: Stack, path: str) -> str:
    response = stack.feed(path)
    return lxml.html.fromstring(response.content).text_content() if response.ok else ""


@pytest.fixture(scope="module")
def site(site_stack: Stack) -> Stack:
    """A stack serving the whole sample corpus, once its pages show every section."""
    stack = site_stack
    for article in load_corpus():
        assert stack.put(article).status_code in (200, 201)
    wait_until(lambda: all(t in text_of(stack, "") for t in ("Gündem", "Yaşam", "Dünya")), 60)
    wait_until(
        lambda: all(t in text_of(stack, "feeds/sections/dunya.html") for t in DUNYA_TITLES), 60
    )
    return stack


def render(url: str, name: str, profile: Path) -> lxml.html.HtmlElement:
    """The DOM Chromium built for `url` (scripts run), after saving its screenshot as `name`."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    run_chromium(profile / "shot", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", url)
    assert shot.is_file() and shot.stat().st_size > 10_000, f"{shot} is missing or blank"
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
        assert len(image.getcolors(maxcolors=1_000_000) or []) > 20  # not a single-colour page
    return lxml.html.fromstring(run_chromium(profile / "dom", "--dump-dom", url))


def test_index_page_in_chromium(site: Stack, tmp_path: Path) -> None:
    dom = render(f"{site.feeds_url}/", "index", tmp_path)
    assert dom.findtext(".//h1") == "Haber akışları"
    (sections,) = dom.xpath("//section[h2[starts-with(normalize-space(), 'Bölümler')]]")
    names = [n.text_content() for n in sections.xpath(".//*[@class='name']")]
    # The corpus's sections, in order among those of the other tests sharing the stack.
    assert [name for name in names if name in ("Dünya", "Gündem", "Yaşam")] == [
        "Dünya",
        "Gündem",
        "Yaşam",
    ]
    text = dom.text_content()
    for shown in ("Tüm haberler", "Etiketler", "AGİT", "Yazarlar", "Dış Haberler Servisi"):
        assert shown in text
    assert f"{site.feeds_url}/feeds/sections/dunya.html" in dom.xpath("//a/@href")


def test_section_page_in_chromium(site: Stack, tmp_path: Path) -> None:
    url = f"{site.feeds_url}/feeds/sections/dunya.html"
    dom = render(url, "dunya", tmp_path)
    assert dom.findtext(".//h1") == "Haber — Dünya"
    assert [h.text_content() for h in dom.xpath("//li[@class='item']//h3")] == DUNYA_TITLES
    text = dom.text_content()
    assert "18 Ocak 2026, 11:42" in text and "Abone ol" in text
    fields = dom.xpath("//section[h2='Abone ol']//input")
    base = f"{site.feeds_url}/feeds/sections/dunya"
    assert [f.get("value") for f in fields] == [f"{base}.rss", f"{base}.atom", f"{base}.json"]
    buttons = dom.xpath("//section[h2='Abone ol']//button")
    # The copy script ran: it shows the buttons that stay hidden without JavaScript.
    assert [b.text for b in buttons] == ["Kopyala"] * 3
    assert all(b.get("hidden") is None for b in buttons)
