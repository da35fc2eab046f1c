"""The HTML index at `/`: every published feed and sitemap, grouped by kind."""

from __future__ import annotations

from html import escape

from shared.settings import Settings

_GROUPS = (
    ("feeds/all.", "Tüm haberler"),
    ("feeds/sections/", "Bölümler"),
    ("feeds/tags/", "Etiketler"),
    ("feeds/authors/", "Yazarlar"),
    ("sitemap", "Site haritaları"),
)


def render_index(settings: Settings, labels: dict[str, str], paths: list[str]) -> bytes:
    """An index page linking each artifact path (sorted) under its group.

    `labels` maps target names ("feed:section:dunya") to display names ("Dünya").
    """
    parts = [
        "<!doctype html><html lang='",
        escape(settings.language),
        "'><meta charset='utf-8'><title>",
        escape(settings.site_name),
        " feeds</title><h1>",
        escape(settings.site_name),
        " feeds</h1>",
    ]
    for prefix, heading in _GROUPS:
        group = [p for p in paths if p.startswith(prefix)]
        if group:
            parts += ["<h2>", escape(heading), "</h2><ul>"]
            parts += [f"<li><a href='/{escape(p)}'>{escape(p)}</a></li>" for p in group]
            parts.append("</ul>")
    parts.append("</html>")
    return "".join(parts).encode()
