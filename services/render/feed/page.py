"""A feed as an HTML page for people: the same feed model, readable in a browser.

Also holds the page shell (`document`, `site_header`, `BASE_CSS`) the index page shares, so
both pages look alike. Pages are self-contained: inline CSS, one tiny optional script, and
no external resource but the articles' own images.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from services.render.feed.formats import cached_entry
from services.render.feed.model import Feed, FeedItem, Person
from shared.language.slugs import slugify
from shared.language.turkish import format_date

# Format → (what readers call it, media type for autodiscovery).
SUBSCRIBE_FORMATS = {
    "rss": ("RSS", "application/rss+xml"),
    "atom": ("Atom", "application/atom+xml"),
    "json": ("JSON Feed", "application/feed+json"),
}
EMPTY_MESSAGE = "Bu akışta henüz haber yok."

BASE_CSS = """
:root{--bg:#f4f5f7;--card:#fff;--text:#1b1f24;--muted:#5b6470;--line:#dde1e6;
--brand:#12284c;--accent:#e30a17;--chip:#eef1f5;--field:#f8f9fb;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--card:#1a1e24;--text:#e8eaed;
--muted:#a0a8b3;--line:#2e343c;--brand:#8fb3ff;--chip:#262c34;--field:#14181d}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);line-height:1.55;
font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif}
a{color:var(--brand)}
a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid var(--accent);
outline-offset:2px}
.top{background:#12284c;border-top:4px solid var(--accent);color:#fff}
.top .wrap{display:flex;justify-content:space-between;align-items:center;gap:1rem;
padding-top:.7rem;padding-bottom:.7rem}
.top a{color:#fff;text-decoration:none}.top a:hover{text-decoration:underline}
.brand{font-weight:700;letter-spacing:.01em}
.wrap{max-width:860px;margin:0 auto;padding:0 1.25rem}
main.wrap{padding-top:1.75rem;padding-bottom:2.5rem}
h1{font-size:1.9rem;line-height:1.2;margin:0 0 .35rem}
h2{font-size:1.15rem;margin:0 0 .6rem}
.lead{color:var(--muted);margin:0 0 1.5rem}
.box{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:1.1rem 1.25rem;margin:0 0 1.5rem}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);
white-space:nowrap}
footer{color:var(--muted);font-size:.875rem;padding-bottom:2rem}
footer p{margin:0;padding-top:1rem;border-top:1px solid var(--line)}
"""

_FEED_CSS = """
.subscribe p{margin:0 0 .8rem;color:var(--muted);font-size:.95rem}
.sub{display:grid;grid-template-columns:6.5rem 1fr auto;gap:.5rem;align-items:center;
margin:.45rem 0}
.sub label{font-weight:600}
.sub input{width:100%;min-width:0;font:.9rem/1.4 ui-monospace,"DejaVu Sans Mono",monospace;
padding:.45rem .6rem;border:1px solid var(--line);border-radius:6px;background:var(--field);
color:var(--text)}
.sub button{font:inherit;font-size:.9rem;padding:.42rem .95rem;border:0;border-radius:6px;
background:#12284c;color:#fff;cursor:pointer}
.sub button:hover{background:var(--accent)}
.items{list-style:none;margin:0;padding:0}
.item{display:flex;gap:1.1rem;background:var(--card);border:1px solid var(--line);
border-radius:10px;padding:1.1rem 1.25rem;margin:0 0 .9rem}
.item .text{flex:1;min-width:0}
.item h3{font-size:1.2rem;line-height:1.3;margin:0 0 .3rem}
.item h3 a{text-decoration:none}.item h3 a:hover{text-decoration:underline}
.meta{color:var(--muted);font-size:.875rem;margin:0 0 .5rem}
.summary{margin:0 0 .6rem}
.thumb{flex:0 0 200px;width:200px;aspect-ratio:3/2;object-fit:cover;border-radius:6px;
background:var(--chip)}
.cats{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.35rem}
.cats a{display:inline-block;font-size:.8rem;padding:.1rem .6rem;border-radius:999px;
background:var(--chip);color:var(--text);text-decoration:none}
.cats a:hover{text-decoration:underline}
.cats .section a{background:var(--accent);color:#fff}
.empty{background:var(--card);border:1px dashed var(--line);border-radius:10px;
padding:2rem;text-align:center;color:var(--muted)}
@media (max-width:640px){.item{flex-direction:column-reverse}
.thumb{width:100%;flex-basis:auto}.sub{grid-template-columns:1fr auto}
.sub label{grid-column:1/-1}}
"""

# Copy buttons start hidden: without JavaScript the URLs are still there to select.
_COPY_SCRIPT = """
document.querySelectorAll("button[data-copy]").forEach(function(b){
var f=document.getElementById(b.dataset.copy),s=document.getElementById("copy-status");
b.hidden=false;b.addEventListener("click",function(){f.focus();f.select();
var done=function(){b.textContent="Kopyalandı";s.textContent="Adres kopyalandı";
setTimeout(function(){b.textContent="Kopyala";s.textContent=""},2000)};
var fallback=function(){document.execCommand("copy");done()};
if(navigator.clipboard){navigator.clipboard.writeText(f.value).then(done,fallback)}else{fallback()}
})});
"""


def render_html(feed: Feed) -> bytes:
    """The feed's page: its items, how to subscribe, and autodiscovery links to each format."""
    head = [_link("canonical", feed.self_urls["html"])]
    head += [
        _link("alternate", feed.self_urls[fmt], media_type, f"{feed.title} ({name})")
        for fmt, (name, media_type) in SUBSCRIBE_FORMATS.items()
    ]
    index_url = feed.index_url or _index_url(feed.self_urls["html"])
    body = (
        site_header(feed.home_url, (index_url, "Tüm akışlar"))
        + '<main class="wrap">'
        + f"<h1>{escape(feed.title)}</h1>"
        + _lead(feed)
        + _subscribe(feed)
        + _items(feed)
        + "</main>"
        + _footer(feed.home_url)
    )
    return document(feed.language, feed.title, "".join(head), body, _FEED_CSS, _COPY_SCRIPT)


def document(lang: str, title: str, head: str, body: str, css: str, script: str = "") -> bytes:
    """A complete HTML5 page; `head` and `body` are markup, `title` is plain text."""
    tail = f"<script>{script.strip()}</script>" if script else ""
    return (
        f'<!DOCTYPE html>\n<html lang="{escape(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>{head}"
        f"<style>{(BASE_CSS + css).strip()}</style></head>"
        f"<body>{body}{tail}</body></html>\n"
    ).encode()


def site_header(home_url: str, nav: tuple[str, str] | None = None) -> str:
    """The top bar: the news site (by host name) on the left, a (url, text) link right."""
    host = urlsplit(home_url).hostname or home_url
    link = f'<a href="{_attr_url(nav[0])}">{escape(nav[1])}</a>' if nav else ""
    return (
        '<header class="top"><div class="wrap">'
        f'<a class="brand" href="{_attr_url(home_url)}">{escape(host)}</a>{link}</div></header>'
    )


def format_moment(moment: datetime, tz: str) -> str:
    """The date and time of `moment` in zone `tz`, in Turkish: "18 Ocak 2026, 11:42"."""
    local = moment.astimezone(ZoneInfo(tz))
    return f"{format_date(moment, tz)}, {local:%H:%M}"


def safe_url(url: str) -> str | None:
    """`url` if it is http(s), else None: a `javascript:` link must never reach a page."""
    return url if urlsplit(url).scheme.lower() in ("http", "https") else None


def _attr_url(url: str) -> str:
    return escape(safe_url(url) or "#")


def _link(rel: str, href: str, media_type: str = "", title: str = "") -> str:
    extra = f' type="{escape(media_type)}"' if media_type else ""
    extra += f' title="{escape(title)}"' if title else ""
    return f'<link rel="{rel}"{extra} href="{_attr_url(href)}">'


def _index_url(html_url: str) -> str:
    # Every feed lives under "<feeds base>feeds/…", and the index is the base itself.
    cut = html_url.rfind("/feeds/")
    return html_url[: cut + 1] if cut >= 0 else "/"


def _lead(feed: Feed) -> str:
    if not feed.items:
        return ""
    latest = _time(feed.updated, feed.timezone)
    return f'<p class="lead">{len(feed.items)} haber · Son güncelleme: {latest}</p>'


def _subscribe(feed: Feed) -> str:
    rows = []
    for fmt, (name, _) in SUBSCRIBE_FORMATS.items():
        field = f"abone-{fmt}"
        rows.append(
            f'<div class="sub"><label for="{field}">{name}</label>'
            f'<input id="{field}" type="text" readonly value="{escape(feed.self_urls[fmt])}">'
            f'<button type="button" data-copy="{field}" hidden>Kopyala</button></div>'
        )
    return (
        '<section class="box subscribe" aria-labelledby="abone-baslik">'
        '<h2 id="abone-baslik">Abone ol</h2>'
        "<p>Bu akışı takip etmek için adreslerden birini haber okuyucunuza ekleyin.</p>"
        + "".join(rows)
        + '<p class="sr-only" role="status" id="copy-status"></p></section>'
    )


def _items(feed: Feed) -> str:
    heading = '<h2 id="haberler-baslik" class="sr-only">Haberler</h2>'
    if not feed.items:
        return f'{heading}<p class="empty">{EMPTY_MESSAGE}</p>'
    # Each item's markup is made once (per language, zone and site) and kept with the
    # feed entries: the page is rebuilt with its feed on every publish.
    context = ("html", feed.language, feed.timezone, feed.home_url)
    items = b"".join(
        cached_entry(item, context, lambda item=item: _item(item, feed).encode())  # type: ignore[misc]
        for item in feed.items
    ).decode()
    return (
        f'<section aria-labelledby="haberler-baslik">{heading}'
        f'<ol class="items">{items}</ol></section>'
    )


def _item(item: FeedItem, feed: Feed) -> str:
    lang = f' lang="{escape(item.language)}"' if item.language not in (None, feed.language) else ""
    url = safe_url(item.url)
    title = escape(item.title)
    heading = f'<a href="{escape(url)}">{title}</a>' if url else title
    image = ""
    if item.image is not None and (src := safe_url(item.image.url)):
        image = (
            f'<img class="thumb" src="{escape(src)}" alt="{escape(item.image.alt)}"'
            ' loading="lazy" decoding="async">'
        )
    # Many spots merely repeat the headline; showing it twice reads as a glitch.
    shown = item.summary and item.summary.strip() != item.title.strip()
    summary = f'<p class="summary">{escape(item.summary)}</p>' if shown else ""
    return (
        f'<li class="item"{lang}><div class="text"><h3>{heading}</h3>'
        f"{_meta(item, feed)}{summary}{_categories(item)}</div>{image}</li>"
    )


def _meta(item: FeedItem, feed: Feed) -> str:
    parts = [_time(item.published, feed.timezone)]
    if item.updated > item.published:
        parts.append(f"güncellendi {_time(item.updated, feed.timezone)}")
    # The site stands in as author of unsigned stories (feeds need one); no byline to show.
    byline = [p for p in item.authors if p.url != feed.home_url]
    if byline:
        parts.append(", ".join(_person(p) for p in byline))
    if item.comments_url and (comments := safe_url(item.comments_url)):
        parts.append(f'<a href="{escape(comments)}">Yorumlar</a>')
    return f'<p class="meta">{" · ".join(parts)}</p>'


def _time(moment: datetime, tz: str) -> str:
    return f'<time datetime="{moment.isoformat()}">{format_moment(moment, tz)}</time>'


def _person(person: Person) -> str:
    url = safe_url(person.url) if person.url else None
    name = escape(person.name)
    return f'<a href="{escape(url)}">{name}</a>' if url else name


def _categories(item: FeedItem) -> str:
    if not item.categories:
        return ""
    chips = []
    for category in item.categories:
        kind = "section" if category.scheme.endswith("/sections/") else "tag"
        slug, term = slugify(category.term), escape(category.term)
        # Each chip opens that section's or tag's own page, when it has a slug at all.
        chip = (
            f'<a href="{_attr_url(f"{category.scheme}{slug}.html")}">{term}</a>' if slug else term
        )
        chips.append(f'<li class="{kind}">{chip}</li>')
    return f'<ul class="cats" aria-label="Konular">{"".join(chips)}</ul>'


def _footer(home_url: str) -> str:
    host = escape(urlsplit(home_url).hostname or home_url)
    return (
        '<footer class="wrap"><p>Bu sayfa akışın tarayıcıda okunan hâlidir; haber okuyucular '
        "yukarıdaki RSS, Atom veya JSON Feed adresini kullanır. · "
        f'<a href="{_attr_url(home_url)}">{host}</a></p></footer>'
    )
