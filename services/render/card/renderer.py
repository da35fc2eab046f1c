"""The card kind's renderer: a social card image and its Open Graph / Twitter page.

The image is drawn again only when what it shows changes (title, section, image, date): the
JPEG carries a digest of what it was drawn from, and a build that finds the same digest keeps
the published image. A retracted article's card answers 410 Gone; an embargoed one does not
exist until its time.
"""

from __future__ import annotations

import io
import logging
from functools import cached_property

from PIL import Image, UnidentifiedImageError

from services.render.card.background import UnsafeImage, decode_background
from services.render.card.image import CardContent, CardStyle, render_card
from services.render.card.page import CardPage, render_card_page
from services.render.pipeline.rendering import Output, RenderContext, Renderer
from shared.article import Article
from shared.kinds.card import article_id
from shared.kinds.entries import fingerprint
from shared.language import turkish
from shared.net.fetcher import FetchError
from shared.state.article_reader import StoredArticle
from shared.state.script_calls import ScriptCall
from shared.store.artifacts import encode, safe_path

log = logging.getLogger(__name__)

_RENDER_ATTEMPTS = 3  # renders of one build before it publishes what it read last
_ACCEPT = "image/jpeg,image/png,image/webp,image/gif"
_MEDIA = "media/"  # where pushed images are kept in the store, and served from


class CardRenderer(Renderer):
    """Draws an article's card image (or keeps the published one) and writes its page."""

    @cached_property
    def _style(self) -> CardStyle:
        return CardStyle.from_settings(self.settings)

    def first_read(self, target: str, ctx: RenderContext) -> ScriptCall:
        return ctx.reader.article_read(article_id(target))

    def render(self, target: str, ctx: RenderContext) -> Output:
        ident = article_id(target)
        # Drawing may wait on a slow photo: read the article again before publishing, so a
        # takedown or change that came meanwhile is what this build publishes. The first
        # read came with the build's begin (`first_read`).
        if ctx.first_reply is not None:
            stored = ctx.reader.article_of(ident, ctx.first_reply)
        else:
            stored = ctx.reader.article(ident)
        for _ in range(_RENDER_ATTEMPTS):
            output = self._render_stored(target, stored, ctx)
            current = ctx.reader.article(ident)
            if _state(current) == _state(stored):
                break
            stored = current
        return output

    def _render_stored(self, target: str, stored: StoredArticle, ctx: RenderContext) -> Output:
        if stored.status != "visible" or stored.article is None:
            return Output(remove=self.kind.paths(target), gone=stored.status == "retracted")
        article = stored.article
        jpg_path, html_path = self.kind.paths(target)
        content = CardContent(
            title=article.title,
            section=article.section,
            site_name=ctx.settings.site_name,
            date_text=turkish.format_date(article.published_at, ctx.settings.timezone),
        )
        drawn_from = fingerprint(content, article.image and str(article.image.url), self._style)
        jpeg = _published_image(ctx, jpg_path, drawn_from)
        if jpeg is None:
            background = _background(ctx, article)
            jpeg = render_card(content, self._style, background, comment=drawn_from.encode())
        page = render_card_page(_page(article, jpg_path, ctx))
        quality = ctx.settings.brotli_quality
        return Output(artifacts=[encode(jpg_path, jpeg, quality), encode(html_path, page, quality)])


def _state(stored: StoredArticle) -> tuple[str, str | None]:
    return stored.status, stored.article and stored.article.digest


def _published_image(ctx: RenderContext, path: str, drawn_from: str) -> bytes | None:
    """The published card image, if it was drawn from exactly this."""
    published = ctx.store.get(path)
    if published is None:
        return None
    try:
        with Image.open(io.BytesIO(published.body)) as image:
            same = image.info.get("comment") == drawn_from.encode()
    except (UnidentifiedImageError, OSError):
        return None
    return published.body if same else None


def _background(ctx: RenderContext, article: Article) -> Image.Image | None:
    """The article's photo, fetched through the guarded fetcher; None falls back to the
    branded card. What went wrong is logged, never shown."""
    if article.image is None:
        return None
    url = str(article.image.url)
    own = f"{ctx.settings.feeds_base_url}{_MEDIA}"
    try:
        if url.startswith(own):  # an image pushed to us: read from the store, never fetched
            return decode_background(_stored_media(ctx, url.removeprefix(own)))
        result = ctx.fetcher.get(url, headers={"Accept": _ACCEPT})
        if result.status != 200:
            raise FetchError(f"status {result.status}")
        return decode_background(result.body)
    except (FetchError, UnsafeImage) as exc:
        log.warning("card of %s without its image %s: %s", article.id, url, exc)
        return None


def _stored_media(ctx: RenderContext, name: str) -> bytes:
    path = safe_path(_MEDIA + name)
    found = ctx.store.get(path) if path else None
    if found is None:
        raise FetchError("not in the store")
    return found.body


def _page(article: Article, jpg_path: str, ctx: RenderContext) -> CardPage:
    language = article.language or ctx.settings.language
    return CardPage(
        title=article.title,
        description=article.summary,
        article_url=str(article.url),
        card_image_url=f"{ctx.settings.feeds_base_url}{jpg_path}",
        image_alt=article.title,
        site_name=ctx.settings.site_name,
        locale=turkish.og_locale(language),
        language=language,
        published=article.published_at.isoformat(),
        modified=article.modified.isoformat(),
        section=article.section,
        tags=tuple(article.tags),
    )
