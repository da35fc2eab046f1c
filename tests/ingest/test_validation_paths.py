"""Where a request body is validated: a small one on the event loop, a large one (or one whose
HTML holds many tags) on the validation thread; the answer is the same either way."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from services.ingest.body_validation import INLINE_MAX_BYTES, INLINE_MAX_TAGS, Batch, Validator
from services.ingest.errors import BadRequest, InvalidArticle
from shared.settings import Settings

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class Recording(Validator):
    """A validator that records whether it handed work to its thread."""

    def __init__(self) -> None:
        super().__init__(Settings(), lambda: NOW)
        self.threaded = 0

    async def _run(self, work: Any) -> Any:
        self.threaded += 1
        return await super()._run(work)


def body(article: dict[str, Any]) -> bytes:
    return json.dumps(article).encode()


def article(validator: Recording, data: bytes, path_id: str) -> Any:
    return asyncio.run(validator.article(data, path_id))


def test_a_typical_article_is_validated_on_the_loop(seed_article):
    data = body(seed_article)
    assert len(data) <= INLINE_MAX_BYTES
    validator = Recording()
    stored = article(validator, data, seed_article["id"])
    assert (stored.id, validator.threaded) == (seed_article["id"], 0)
    assert stored.serialized()[1] == stored.digest  # ready for the writer


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"published_at": "2026-01-18T09:22:00"}, "published_at"),  # no zone
        ({"published_at": "1989-12-31T23:59:00+03:00"}, "published_at"),
        ({"body_html": "<div>" * 70}, "body_html"),  # nests past the limit
        ({"tags": ["---"]}, "tags"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_small_invalid_article_is_refused_on_the_loop_naming_the_field(
    seed_article, change, field
):
    validator = Recording()
    with pytest.raises(InvalidArticle) as refused:
        article(validator, body({**seed_article, **change}), seed_article["id"])
    assert [f["field"] for f in refused.value.fields] == [field]
    assert validator.threaded == 0


def test_small_malformed_json_and_a_mismatched_id_are_refused_on_the_loop(seed_article):
    validator = Recording()
    with pytest.raises(BadRequest):
        article(validator, b'{"id": ', seed_article["id"])
    with pytest.raises(InvalidArticle) as refused:
        article(validator, body(seed_article), "another-id")
    assert [f["field"] for f in refused.value.fields] == ["id"]
    assert validator.threaded == 0


def test_a_large_body_goes_to_the_thread(seed_article):
    large = {**seed_article, "body_html": "<p>" + "Şansımız var. " * 1000 + "</p>"}
    data = body(large)
    assert len(data) > INLINE_MAX_BYTES
    validator = Recording()
    assert article(validator, data, seed_article["id"]).id == seed_article["id"]
    assert validator.threaded == 1


def test_a_small_body_with_many_tags_goes_to_the_thread(seed_article):
    # Markup costs by the tag (misnested formatting most): few bytes can hold many.
    tags = {**seed_article, "body_html": "<b><div>x</b>y</div>" * (INLINE_MAX_TAGS // 4 + 1)}
    data = body(tags)
    assert len(data) <= INLINE_MAX_BYTES
    validator = Recording()
    assert article(validator, data, seed_article["id"]).id == seed_article["id"]
    assert validator.threaded == 1


def test_an_invalid_large_body_is_refused_from_the_thread_naming_the_field(seed_article):
    large = {**seed_article, "title": "", "body_html": "<p>" + "x" * 10_000 + "</p>"}
    validator = Recording()
    with pytest.raises(InvalidArticle) as refused:
        article(validator, body(large), seed_article["id"])
    assert [f["field"] for f in refused.value.fields] == ["title"]
    assert validator.threaded == 1


def parts(validator: Validator, data: bytes, chunk: int) -> list[Batch]:
    async def collect() -> list[Batch]:
        return [part async for part in validator.batch(data, chunk)]

    return asyncio.run(collect())


def test_a_small_batch_is_validated_on_the_loop(seed_article):
    validator = Recording()
    [part] = parts(validator, body({"articles": [seed_article]}), 100)
    assert [index for index, _ in part.valid] == [0]
    assert validator.threaded == 0


def test_a_large_batch_is_validated_in_parts_on_the_thread_numbered_as_sent(seed_article):
    validator = Recording()
    many = [{**seed_article, "id": f"haber-{n}"} for n in range(10)]
    many[7] = {"id": "x"}
    found = parts(validator, body({"articles": many}), 4)
    assert [[index for index, _ in part.valid] for part in found] == [
        [0, 1, 2, 3],
        [4, 5, 6],
        [8, 9],
    ]
    invalid = found[1].results[3]
    assert invalid is not None and invalid["status"] == "invalid"
    assert {"field": "articles.7.url", "message": "Field required"} in invalid["errors"]
    assert validator.threaded == 1 + 3  # the body's parsing, then each part


def test_a_batch_of_the_wrong_shape_is_refused_before_any_part(seed_article):
    validator = Recording()
    with pytest.raises(InvalidArticle) as refused:
        parts(validator, body({"articles": [seed_article], "publish": True}), 100)
    assert [f["field"] for f in refused.value.fields] == ["publish"]
