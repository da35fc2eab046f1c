"""ninjs documents checked and mapped, without a server: the IPTC's own examples of every
version, our corpus converted to ninjs (1.x, 2.x and 3.x) and back, and documents that are
wrong in each way a sender gets them wrong."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.ingest.errors import InvalidArticle
from services.ingest.ninjs.mapping import (
    FALLBACK_SECTION,
    NinjsOptions,
    NinjsUnmappable,
    article_from_ninjs,
    ninjs_id,
    retracts,
)
from services.ingest.ninjs.schemas import MAX_DEPTH, NinjsInvalid, validate
from services.ingest.ninjs.writing import prepare
from shared.article import Article
from shared.settings import Settings
from tests.conftest import load_corpus

EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "ninjs"
NOW = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)
SETTINGS = Settings()
OPTIONS = NinjsOptions(site_url="https://haber.example.com.tr/")


def examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*/*.json"))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_there_are_examples_of_every_version() -> None:
    assert {path.parent.name for path in examples()} == {"1.x", "2.x", "3.x"}
    assert all(len(list((EXAMPLES / v).glob("*.json"))) >= 3 for v in ("1.x", "2.x", "3.x"))


@pytest.mark.parametrize("path", examples(), ids=lambda p: p.name)
def test_an_iptc_example_validates_as_its_version_and_maps_to_an_article(path: Path) -> None:
    document = load(path)
    assert validate(document) == path.parent.name[0]
    prepared = prepare(document, SETTINGS, NOW)
    assert prepared.article is not None
    assert prepared.article.id == ninjs_id(document)
    assert prepared.article.title
    assert prepared.article.published_at <= NOW


def test_a_3x_text_with_picture_maps_every_field() -> None:
    document = load(EXAMPLES / "3.x" / "3.0-tt_text_image_3.json")
    article = article_from_ninjs(document, received_at=NOW, options=OPTIONS)
    assert article["id"] == "tt.se-media-text-210526-militarovning-a0f2d045"
    assert article["url"] == document["uri"]
    assert article["title"] == "Militärövning i jätteformat hålls 2023"
    assert article["section"] == "Inrikes"  # the genre, before the subjects
    assert article["tags"] == ["Krig, konflikter och oroligheter"]
    assert article["language"] == "sv"
    assert article["published_at"] == article["updated_at"] == "2021-05-26T13:40:18+02:00"
    assert article["summary"].startswith("Pandemin satte stopp")
    assert article["body_html"].startswith("<article>")  # the HTML document's body
    # The picture's largest rendition.
    assert article["image"]["url"].endswith("a001_NormalHires.jpg")
    assert article["image"]["credit"] == "Karl Melander/TT"
    assert article["rights"] == "© TT"


def test_rights_join_the_notice_the_holder_and_the_usage_terms() -> None:
    document = load(EXAMPLES / "2.x" / "2.1-dpa_text.json")
    dpa = article_from_ninjs(document, received_at=NOW, options=OPTIONS)
    assert dpa["rights"] == "Copyright 2019, dpa (www.dpa.de). Alle Rechte vorbehalten"
    every = minimal(
        copyrightholder="AA", copyrightnotice="Tüm hakları saklıdır.", usageterms="Yalnız abone."
    )
    rights = article_from_ninjs(every, received_at=NOW)["rights"]
    assert rights == "Tüm hakları saklıdır. © AA Yalnız abone."
    assert "rights" not in article_from_ninjs(minimal(), received_at=NOW)


def test_a_1x_composite_takes_its_picture_from_the_associations_object() -> None:
    document = load(EXAMPLES / "1.x" / "1.4-ninjsExComplex1.json")
    article = article_from_ninjs(document, received_at=NOW, options=OPTIONS)
    assert article["image"]["url"].endswith("-big.jpg")
    assert article["authors"] == [{"name": "Paulo Santalucia and Frances d'Emilio"}]
    assert article["body_html"].startswith("<p>")


def test_a_uri_that_is_no_web_address_gives_a_url_under_the_site() -> None:
    document = load(EXAMPLES / "2.x" / "2.1-ntb_text.json")
    article = article_from_ninjs(document, received_at=NOW, options=OPTIONS)
    assert article["id"] == document["uri"] == "urn:8d19cf88-b3ab-4972-8fec-1207599f2872"
    assert article["url"] == f"https://haber.example.com.tr/{article['id']}"
    assert article["body_html"] == ""  # no body: the summary alone
    assert article["summary"].startswith("IT-giganten Google")
    with pytest.raises(NinjsUnmappable) as refused:
        article_from_ninjs(document, received_at=NOW)  # no site to put it under
    assert refused.value.fields[0]["field"] == "uri"


def test_the_id_is_the_same_for_every_version_and_safe_for_any_uri() -> None:
    first = {"uri": "https://ajans.example/haber/2026/01/18/x?id=1&v=2", "version": "1"}
    assert ninjs_id(first) == ninjs_id({**first, "version": "7"})
    assert ninjs_id(first) == "ajans.example-haber-2026-01-18-x-id-1-v-2"
    assert ninjs_id({"guid": "urn:newsml:ajans:1"}) == "urn:newsml:ajans:1"
    long = {"uri": "https://ajans.example/" + "ç" * 200}
    assert ninjs_id(long).startswith("ninjs-")
    assert ninjs_id(long) == ninjs_id(dict(long))
    assert ninjs_id({"uri": "../../etc/passwd"}) == "etc-passwd"
    with pytest.raises(NinjsUnmappable):
        ninjs_id({"type": "text"})


def minimal(**fields: Any) -> dict[str, Any]:
    return {"uri": "https://ajans.example/h/1", "headlines": [{"value": "Başlık"}], **fields}


def test_the_version_comes_from_the_document_or_its_shape() -> None:
    assert validate({"uri": "u:1", "headline": "x"}) == "1"
    assert validate(minimal()) == "2"
    assert validate(minimal(versionCreated="2026-01-18T10:00:00Z")) == "3"
    stated = {**minimal(), "standard": {"name": "ninjs", "version": "3.1"}}
    assert validate(stated) == "3"
    assert validate({"uri": "u:1", "type": "text"}) == "3"  # fits any: the newest
    # A stated version is held to: a 2.x key in a document saying 1.x is an error.
    with pytest.raises(NinjsInvalid) as refused:
        validate({**minimal(), "$standard": {"name": "ninjs", "version": "1.6"}})
    assert "ninjs 1.6" in str(refused.value)


def test_schema_errors_name_the_json_path_and_the_schema_path() -> None:
    with pytest.raises(NinjsInvalid) as refused:
        validate(minimal(headlines=[{"role": "main"}], urgency="high"))
    fields = {f["field"]: f["message"] for f in refused.value.fields}
    assert set(fields) == {"headlines.0", "urgency"}
    assert "'value' is a required property" in fields["headlines.0"]
    assert "(ninjs 2.2: properties/headlines/items/required)" in fields["headlines.0"]


def test_dates_published_updated_embargo_and_received() -> None:
    dated = minimal(
        firstcreated="2026-01-18T09:00:00+03:00", versioncreated="2026-01-18T10:00:00+03:00"
    )
    article = article_from_ninjs(dated, received_at=NOW)
    assert (article["published_at"], article["updated_at"]) == (
        "2026-01-18T09:00:00+03:00",
        "2026-01-18T10:00:00+03:00",
    )
    undated = article_from_ninjs(minimal(), received_at=NOW)
    assert undated["published_at"] == undated["updated_at"] == NOW.isoformat()
    # An embargo is a published_at in the future; the version is no earlier than it.
    embargo = (NOW + timedelta(days=2)).isoformat()
    held = article_from_ninjs({**dated, "embargoed": embargo}, received_at=NOW)
    assert held["published_at"] == held["updated_at"] == embargo
    held_3x = article_from_ninjs(minimal(embargoedUntil=embargo), received_at=NOW)
    assert held_3x["published_at"] == embargo


@pytest.mark.parametrize("value", ["yesterday", "2026-01-18T10:00:00", "2026-13-45T99:00:00Z", 5])
def test_a_bad_date_is_refused_naming_its_key(value: Any) -> None:
    with pytest.raises(NinjsUnmappable) as refused:
        article_from_ninjs(minimal(versioncreated=value), received_at=NOW)
    assert [f["field"] for f in refused.value.fields] == ["versioncreated"]


def test_the_section_setting_picks_the_scheme_that_names_it() -> None:
    document = minimal(
        subjects=[
            {"name": "Ekonomi", "uri": "http://cv.iptc.org/newscodes/mediatopic/04000000"},
            {"name": "Spor", "uri": "https://ajans.example/bolum/spor"},
        ],
        genres=[{"name": "Haber", "uri": "https://ajans.example/tur/haber"}],
    )
    chosen = NinjsOptions(section_scheme="https://ajans.example/bolum/")
    article = article_from_ninjs(document, received_at=NOW, options=chosen)
    assert article["section"] == "Spor"
    assert article["tags"] == ["Haber", "Ekonomi"]
    by_genre = NinjsOptions(section_scheme="genre")
    assert article_from_ninjs(document, received_at=NOW, options=by_genre)["section"] == "Haber"
    assert article_from_ninjs(document, received_at=NOW)["section"] == "Haber"  # the first
    assert article_from_ninjs(minimal(), received_at=NOW)["section"] == FALLBACK_SECTION


def test_superdesk_keys_map_and_are_not_held_against_the_schema() -> None:
    document = {
        "guid": "urn:newsml:localhost:2026-01-18T10:00:00:abc",
        "type": "text",
        "headline": "Kar alarmı",
        "body_html": "<p>Kar geliyor.</p>",
        "description_text": "Kısa özet",
        "anpa_category": [{"qcode": "g", "name": "Gündem"}],
        "keywords": ["kar", "İstanbul"],
        "authors": [{"name": "Ayşe Yılmaz", "role": "writer"}],
        "pubstatus": "usable",
        "versioncreated": "2026-01-18T10:00:00+0000",
    }
    assert validate(document) == "1"
    article = article_from_ninjs(document, received_at=NOW, options=OPTIONS)
    assert article["id"] == document["guid"]
    assert (article["section"], article["tags"]) == ("Gündem", ["kar", "İstanbul"])
    assert article["authors"] == [{"name": "Ayşe Yılmaz"}]
    assert article["summary"] == "Kısa özet"


@pytest.mark.parametrize("status", ["canceled", "withheld"])
def test_canceled_or_withheld_retracts(status: str) -> None:
    assert retracts(minimal(pubstatus=status))
    assert retracts(minimal(pubStatus=status))
    assert not retracts(minimal(pubstatus="usable"))
    prepared = prepare(minimal(pubstatus=status), SETTINGS, NOW)
    assert (prepared.article_id, prepared.article) == ("ajans.example-h-1", None)


# -- hostile documents ----------------------------------------------------------------------


def deep_associations(depth: int) -> dict[str, Any]:
    document: dict[str, Any] = {"uri": "u:leaf", "name": "leaf"}
    for level in range(depth):
        document = {"uri": f"u:{level}", "name": f"n{level}", "associations": [document]}
    top = {key: value for key, value in document.items() if key != "name"}
    return {**top, "headlines": [{"value": "Derin"}]}


def test_deep_associations_are_refused_before_the_schema_recurses() -> None:
    with pytest.raises(NinjsInvalid) as refused:
        validate(deep_associations(500))
    [field] = refused.value.fields
    assert field["field"].startswith("associations.0.associations.0.")
    assert f"deeper than {MAX_DEPTH}" in field["message"]
    assert validate(deep_associations(5)) == "2"  # nesting within reason is fine


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"uri": 5, "headline": "x"}, "uri"),
        (minimal(headlines="Başlık"), "headlines"),
        (minimal(bodies=[{"value": ["<p>"]}]), "bodies.0.value"),
        (minimal(language={"tr": True}), "language"),
        (minimal(associations={"a": 1}), "associations"),
        ({"headline": "no uri"}, "body"),
        ([minimal()], "body"),
        ("ninjs", "body"),
    ],
)
def test_wrong_types_are_refused_naming_their_path(document: Any, field: str) -> None:
    with pytest.raises(InvalidArticle) as refused:
        prepare(document, SETTINGS, NOW)
    assert field in [f["field"] for f in refused.value.fields], refused.value.fields


def test_a_huge_body_is_refused_naming_where_it_came_from() -> None:
    body = "<p>" + "ç" * (600 * 1024) + "</p>"
    with pytest.raises(InvalidArticle) as refused:
        prepare(minimal(bodies=[{"contenttype": "text/html", "value": body}]), SETTINGS, NOW)
    assert [f["field"] for f in refused.value.fields] == ["bodies.0.value"]


def test_an_article_error_names_the_ninjs_path() -> None:
    with pytest.raises(InvalidArticle) as refused:
        prepare(minimal(headlines=[{"role": "main", "value": "x" * 301}]), SETTINGS, NOW)
    assert [f["field"] for f in refused.value.fields] == ["headlines.0.value"]
    with pytest.raises(InvalidArticle) as refused:
        prepare(minimal(language="türkçe"), SETTINGS, NOW)
    assert [f["field"] for f in refused.value.fields] == ["language"]


# -- our corpus, to ninjs and back ------------------------------------------------------------


def to_ninjs(article: dict[str, Any], version: str) -> dict[str, Any]:
    """Our article as a ninjs document of that major version (what a newsroom would send)."""
    concepts = [{"name": article["section"]}] + [{"name": tag} for tag in article.get("tags", [])]
    people = [
        {"name": a["name"], "rel": "author", **({"uri": a["url"]} if "url" in a else {})}
        for a in article.get("authors", [])
    ]
    image = article.get("image")
    if version == "1":
        document: dict[str, Any] = {
            "uri": article["url"],
            "headline": article["title"],
            "description_text": article.get("summary", ""),
            "body_html": article.get("body_html", ""),
            "subject": concepts,
            "person": people,
            "firstcreated": article["published_at"],
            "versioncreated": article.get("updated_at", article["published_at"]),
        }
        if image:
            rendition = {"href": image["url"], "width": 1200, "height": 800}
            document["associations"] = {
                "featuremedia": {
                    "uri": image["url"],
                    "type": "picture",
                    "headline": image.get("alt", ""),
                    "description_text": image.get("caption", ""),
                    "byline": image.get("credit", ""),
                    "renditions": {"original": rendition, "thumb": {"href": "https://x.example/t"}},
                }
            }
    else:
        camel = version == "3"
        document = {
            "uri": article["url"],
            "headlines": [{"role": "main", "value": article["title"]}],
            "descriptions": [{"role": "summary", "value": article.get("summary", "")}],
            "bodies": [
                {
                    "role": "main",
                    ("contentType" if camel else "contenttype"): "text/html",
                    "value": article.get("body_html", ""),
                }
            ],
            "subjects": concepts,
            "people": people,
            ("firstCreated" if camel else "firstcreated"): article["published_at"],
            ("versionCreated" if camel else "versioncreated"): article.get(
                "updated_at", article["published_at"]
            ),
        }
        if image:
            document["associations"] = [
                {
                    "name": "featuremedia",
                    "uri": image["url"],
                    "type": "picture",
                    "headlines": [{"value": image.get("alt", "")}],
                    "descriptions": [{"value": image.get("caption", "")}],
                    "by": image.get("credit", ""),
                    "renditions": [
                        {"name": "thumb", "href": "https://x.example/t", "width": 10, "height": 5},
                        {"name": "original", "href": image["url"], "width": 1200, "height": 800},
                    ],
                }
            ]
    if "language" in article:
        document["language"] = article["language"]
    if "rights" in article:
        document["copyrightNotice" if version == "3" else "copyrightnotice"] = article["rights"]
    return document


def corpus(version: str) -> list[dict[str, Any]]:
    articles = copy.deepcopy(load_corpus())
    articles[0]["image"] = {
        "url": "https://haber.example.com.tr/img/lavrov.jpg",
        "alt": "Sergey Lavrov",
        "caption": "Lavrov Moskova'da",
        "credit": "AA",
    }
    articles[0]["rights"] = "© Anadolu Ajansı. İzinsiz kullanılamaz."
    if version != "1":  # 1.x people have no uri
        author = {"name": "Ali Veli", "url": "https://haber.example.com.tr/a"}
        articles[0]["authors"].append(author)
    return articles


@pytest.mark.parametrize("version", ["1", "2", "3"])
def test_the_corpus_converted_to_ninjs_and_back_is_the_same_article(version: str) -> None:
    # comments_url and related have no ninjs counterpart: they are all that is lost.
    lost = {"comments_url", "related"}
    for original in corpus(version):
        document = to_ninjs(original, version)
        assert validate(document) == version
        prepared = prepare(document, SETTINGS, NOW, path_id=original["id"])
        expected = Article.model_validate(
            {k: v for k, v in original.items() if k not in lost},
            context={"now": NOW, "default_language": "tr"},
        )
        assert prepared.article == expected, original["id"]
