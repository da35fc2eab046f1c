"""The HTML index at `/`: every published feed and sitemap, grouped, under readable names."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape
from urllib.parse import quote, urljoin

from services.render.feed.page import SUBSCRIBE_FORMATS, document, site_header
from shared.kinds.feed import ALL, target_of_path
from shared.language.turkish import MONTHS, lower
from shared.settings import Settings

# Group → heading, in the order the page shows them: the site's sections, tags and authors,
# then the author feeds of other publishers (each name followed by its publisher).
_PUBLISHER_AUTHORS = "publisher-author"
_FEED_GROUPS = {
    "section": "Bölümler",
    "tag": "Etiketler",
    "author": "Yazarlar",
    _PUBLISHER_AUTHORS: "Diğer yayıncıların yazarları",
}
_ALL_STEM = "feeds/all"
# Short names on the format badges; the feed page names them in full.
_BADGES = {"rss": "RSS", "atom": "Atom", "json": "JSON"}
_MONTH_PART = re.compile(r"sitemaps/(\d{4})-(\d{2})(?:-(\d+))?\.xml")

# Turkish alphabetical order: each letter ranks after its undotted/uncedillaed neighbour
# (c < ç < d, h < ı < i), and circumflexed vowels sort with their plain ones.
_ALPHABET = "abcçdefgğhıijklmnoöpqrsştuüvwxyz"
_RANK = {letter: rank for rank, letter in enumerate(_ALPHABET)}
_PLAIN = str.maketrans("âîû", "aiu")

_INDEX_CSS = """
.group{margin:0 0 1.5rem}
.group h2 .count{color:var(--muted);font-weight:400}
.feeds{list-style:none;margin:0;padding:0}
.feeds li{display:flex;justify-content:space-between;align-items:center;gap:1rem;
padding:.5rem 0;border-top:1px solid var(--line)}
.feeds li:first-child{border-top:0}
.feeds .name{font-weight:600;text-decoration:none}.feeds .name:hover{text-decoration:underline}
.formats{display:flex;gap:.35rem;flex-wrap:wrap;justify-content:flex-end}
.formats a{font-size:.78rem;font-weight:600;padding:.12rem .55rem;border-radius:999px;
border:1px solid var(--line);background:var(--chip);color:var(--text);text-decoration:none}
.formats a:hover{border-color:var(--accent);color:var(--accent)}
.file{color:var(--muted);font:.8rem ui-monospace,"DejaVu Sans Mono",monospace}
.empty{color:var(--muted)}
"""


@dataclass
class _Entry:
    """One feed on the page: its name and the formats that are published."""

    stem: str
    label: str
    formats: set[str] = field(default_factory=set)


def render_index(settings: Settings, labels: dict[str, str], paths: list[str]) -> bytes:
    """The index page: feeds by group and display name, each linking its page and formats.

    `labels` maps target names ("feed:section:dunya") to display names ("Dünya"); `paths`
    are the published artifact paths under feeds/ and sitemap*. Links are absolute, under
    the feeds base URL, as the feeds' own self links are (it may carry a path prefix).
    """
    groups = _feed_groups(labels, paths, settings.site_name)
    everything = groups.pop(_ALL_STEM, [])
    title = f"{settings.site_name} — Haber akışları"
    base = str(settings.feeds_base_url)
    head = f'<link rel="canonical" href="{escape(base)}">' + _autodiscovery(
        settings.site_name, base, everything
    )
    sections = [_group("Tüm haberler", everything, base, counted=False)]
    sections += [_group(heading, groups[group], base) for group, heading in _FEED_GROUPS.items()]
    sections.append(_sitemaps([p for p in paths if p.startswith("sitemap")], base))
    body = (
        site_header(str(settings.site_url))
        + '<main class="wrap"><h1>Haber akışları</h1>'
        + '<p class="lead">Bölümleri, etiketleri ve yazarları RSS, Atom ya da JSON Feed ile '
        "takip edin. Bir akışın adı, haberlerini tarayıcıda gösteren sayfasını açar.</p>"
        + ("".join(sections) or '<p class="empty">Henüz yayımlanmış akış yok.</p>')
        + "</main>"
    )
    return document(settings.language, title, head, body, _INDEX_CSS)


def turkish_sort_key(text: str) -> tuple[tuple[int, int], ...]:
    """A sort key in Turkish alphabetical order, ignoring case: "çay" after "cam", "İzmir"
    between "ılık" and "jale". Characters outside the alphabet sort first, by code point."""
    folded = lower(text).translate(_PLAIN)
    return tuple((1, _RANK[c]) if c in _RANK else (0, ord(c)) for c in folded)


def sitemap_label(path: str) -> str:
    """What a sitemap file is, in Turkish: "Ocak 2026", "Ocak 2026 (2. bölüm)"."""
    if path == "sitemap.xml":
        return "Site haritası dizini"
    if path == "sitemaps/news.xml":
        return "Google Haberler site haritası"
    month = _MONTH_PART.fullmatch(path)
    if month is None or not 1 <= int(month[2]) <= 12:
        return path
    label = f"{MONTHS[int(month[2]) - 1]} {month[1]}"
    return f"{label} ({int(month[3])}. bölüm)" if month[3] else label


def _feed_groups(
    labels: dict[str, str], paths: list[str], site_name: str
) -> dict[str, list[_Entry]]:
    """Feeds by group ("feeds/all" for the site-wide one), each group in Turkish order."""
    entries: dict[str, _Entry] = {}
    groups: dict[str, list[_Entry]] = {group: [] for group in _FEED_GROUPS}
    for path in paths:
        stem, _, fmt = path.rpartition(".")
        if not path.startswith("feeds/") or fmt not in (*SUBSCRIBE_FORMATS, "html"):
            continue
        if stem not in entries:
            feed = target_of_path(stem)
            if feed is None:
                continue
            label = site_name if feed == ALL else labels.get(feed.name) or feed.slug
            group = _ALL_STEM if feed == ALL else feed.kind
            if feed.publisher:
                label, group = f"{label} ({feed.publisher})", _PUBLISHER_AUTHORS
            entries[stem] = _Entry(stem, label)
            groups.setdefault(group, []).append(entries[stem])
        entries[stem].formats.add(fmt)
    for group in groups.values():
        group.sort(key=lambda e: (turkish_sort_key(e.label), e.label, e.stem))
    return groups


def _autodiscovery(site_name: str, base: str, everything: list[_Entry]) -> str:
    """`<link rel="alternate">` to the site-wide feed in each published format."""
    if not everything:
        return ""
    links = []
    for fmt, (name, media_type) in SUBSCRIBE_FORMATS.items():
        if fmt in everything[0].formats:
            href = _href(base, f"{_ALL_STEM}.{fmt}")
            title = escape(f"{site_name} — tüm haberler ({name})")
            links.append(
                f'<link rel="alternate" type="{media_type}" title="{title}" href="{href}">'
            )
    return "".join(links)


def _group(heading: str, entries: list[_Entry], base: str, counted: bool = True) -> str:
    if not entries:
        return ""
    rows = "".join(_row(entry, base) for entry in entries)
    return _box(heading, len(entries) if counted else None, f'<ul class="feeds">{rows}</ul>')


def _row(entry: _Entry, base: str) -> str:
    label = escape(entry.label)
    name = (
        f'<a class="name" href="{_href(base, entry.stem + ".html")}">{label}</a>'
        if "html" in entry.formats
        else f'<span class="name">{label}</span>'
    )
    formats = "".join(
        f'<a href="{_href(base, f"{entry.stem}.{fmt}")}" aria-label="{label} — {badge}">{badge}</a>'
        for fmt, badge in _BADGES.items()
        if fmt in entry.formats
    )
    return f'<li>{name}<span class="formats">{formats}</span></li>'


def _sitemaps(paths: list[str], base: str) -> str:
    if not paths:
        return ""
    rows = "".join(
        f'<li><a class="name" href="{_href(base, path)}">{escape(sitemap_label(path))}</a>'
        f'<span class="file">{escape(path)}</span></li>'
        for path in sorted(paths, key=_sitemap_order)
    )
    return _box("Site haritaları", len(paths), f'<ul class="feeds">{rows}</ul>')


def _sitemap_order(path: str) -> tuple[int, int, int, str]:
    """The index, then the news sitemap, then months newest first with their parts in order."""
    if path == "sitemap.xml":
        return (0, 0, 0, path)
    if path == "sitemaps/news.xml":
        return (1, 0, 0, path)
    month = _MONTH_PART.fullmatch(path)
    if month is None:
        return (3, 0, 0, path)
    return (2, -int(month[1] + month[2]), int(month[3] or 1), path)


def _box(heading: str, count: int | None, content: str) -> str:
    counter = f' <span class="count">({count})</span>' if count is not None else ""
    return f'<section class="box group"><h2>{escape(heading)}{counter}</h2>{content}</section>'


def _href(base: str, path: str) -> str:
    return escape(urljoin(base, quote(path)))
