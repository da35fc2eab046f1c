"""The HTML index at `/`: every published feed, grouped by kind."""

from __future__ import annotations

from html import escape

from shared.settings import Settings

_GROUPS = (
    ("feeds/all.", "Tüm haberler"),
    ("feeds/sections/", "Bölümler"),
    ("feeds/tags/", "Etiketler"),
    ("feeds/authors/", "Yazarlar"),
)


def render_index(paths: list[str], settings: Settings) -> bytes:
    """An index page linking each feed path (already sorted) under its group."""
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
