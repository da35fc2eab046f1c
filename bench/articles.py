"""Articles for the benchmarks: the sample corpus, and realistic articles made from it.

The sections, tags and authors are a Turkish newsroom's; `ArticleFactory` varies the corpus
by a running number, so every benchmark sends articles that touch as many feeds as real ones.
"""

from __future__ import annotations

import json
import random
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

from devstack.services import ROOT

CORPUS = ROOT / "tests" / "data" / "corpus"
ISTANBUL = timezone(timedelta(hours=3))
SITE = "https://haber.example.com.tr"

SECTIONS = (
    "Gündem", "Dünya", "Ekonomi", "Spor", "Yaşam", "Kültür-Sanat", "Teknoloji", "Sağlık",
)  # fmt: skip
TAGS = (
    "Rusya", "Sergey Lavrov", "NATO", "AGİT", "İstanbul", "Ankara", "İzmir", "Kar yağışı",
    "Meteoroloji", "Dışişleri", "TBMM", "Seçim", "Enflasyon", "Merkez Bankası", "Borsa İstanbul",
    "Dolar", "Altın", "Akaryakıt", "Asgari ücret", "Galatasaray", "Fenerbahçe", "Beşiktaş",
    "Trabzonspor", "Milli Takım", "Avrupa Birliği", "ABD", "Çin", "Ukrayna", "Suriye", "İsrail",
    "Gazze", "Deprem", "Eğitim", "Üniversite", "Sağlık Bakanlığı", "Grip", "Yapay zekâ",
    "Uzay", "Sinema", "Müzik",
)  # fmt: skip
AUTHORS = (
    "Dış Haberler Servisi", "Ekonomi Servisi", "Spor Servisi", "Ayşe Yılmaz", "Işıl Çağlar",
    "Gökhan Öztürk",
)  # fmt: skip


def load_corpus() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The seed article (the one with a full body) and the sample site's articles."""
    seed = json.loads((CORPUS / "seed-article.json").read_text())
    site = [json.loads(line) for line in (CORPUS / "seed-site.ndjson").read_text().splitlines()]
    return seed, [a for a in site if a]


class ArticleFactory:
    """Realistic articles built from the sample corpus, varied by a running number.

    Every article carries the seed article's full body (≈1.8 KB of Turkish HTML, ≈2.6 KB as
    JSON), a section, three tags (by default) from a pool of forty and one author, so each
    touches about six feed targets, as a real story does.
    """

    def __init__(
        self, run: str | None = None, sections: tuple[str, ...] = SECTIONS, tags: int = 3
    ) -> None:
        from shared.language.slugs import slugify

        self._slugify = slugify
        self.seed, self.site = load_corpus()
        self.run = run or secrets.token_hex(3)
        self.sections = sections
        self.tags = tags
        self._titles = [a["title"] for a in self.site]
        self._summaries = [a.get("summary") or a["title"] for a in self.site]
        # Well in the past (never embargoed), and older than anything published "now".
        self.epoch = datetime.now(ISTANBUL).replace(second=0, microsecond=0) - timedelta(days=7)

    def article_id(self, n: int) -> str:
        return f"bench-{self.run}-{n:06d}"

    def make(
        self,
        n: int,
        *,
        section: str | None = None,
        published: datetime | None = None,
        revision: int = 0,
    ) -> dict[str, Any]:
        """Article number `n`; a higher `revision` is the same story, edited later."""
        rng = random.Random(n)
        section = section or self.sections[n % len(self.sections)]
        published = published or self.epoch + timedelta(seconds=17 * n)
        updated = published + timedelta(minutes=7 * revision)
        title = self._titles[n % len(self._titles)] + f" ({n})"
        if revision:
            title = "Güncelleme: " + title
        article_id = self.article_id(n)
        url = f"{SITE}/{self._slugify(section)}/{self._slugify(title)}-{article_id}"
        article: dict[str, Any] = {
            "id": article_id,
            "url": url,
            "title": title,
            "summary": self._summaries[n % len(self._summaries)],
            "body_html": self.seed["body_html"],
            "section": section,
            "tags": rng.sample(TAGS, self.tags),
            "authors": [{"name": AUTHORS[n % len(AUTHORS)]}],
            "language": "tr",
            "published_at": published.isoformat(),
            "updated_at": updated.isoformat(),
            "comments_url": url + "#yorumlar",
            "related": [self.article_id(m) for m in range(max(0, n - 3), n)],
        }
        if n % 2 == 0:
            article["image"] = {
                "url": f"https://img.haber.example.com.tr/2026/01/{article_id}.jpg",
                "alt": title,
                "credit": "AA",
            }
        return article
