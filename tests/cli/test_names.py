"""`newswire names`: an admin names sections, tags and authors. One run is a real process, as
an operator runs it; the rest runs the command's `main` in this process, with the same
environment."""

from __future__ import annotations

import json

import pytest
import redis

from shared.state import redis_keys
from shared.state.article_reader import ArticleReader

pytestmark = pytest.mark.processes


def test_set_names_a_feed_and_queues_its_rebuild(newswire, db, settings):
    result = newswire("names", "set", "section", "secim-masasi", "Seçim Masası")
    assert result.returncode == 0, result.stderr
    assert "feed:section:secim-masasi: set; it shows 'Seçim Masası'" in result.stdout
    assert db.hget(redis_keys.ADMIN_NAMES, "feed:section:secim-masasi") == "Seçim Masası"
    [(_, event)] = db.xrange(settings.events_stream)
    assert event["type"] == "names.changed"
    assert json.loads(event["targets"]) == ["feed:section:secim-masasi", "feed:index"]


def test_list_shows_each_name_and_where_it_comes_from(
    newswire_in_process, write, seed_article, settings
):
    assert "no feed is named yet" in newswire_in_process("names", "list").stdout
    write(seed_article)  # the site's first article names its feeds
    assert newswire_in_process("names", "set", "tag", "nato", "NATO (İttifak)").returncode == 0
    configured = json.dumps({"feed:section:dunya": "Dünya Haberleri"})
    listed = newswire_in_process("names", "list", NEWSWIRE_DISPLAY_NAMES=configured)
    assert "feed:tag:nato\tNATO (İttifak)\t(admin)" in listed.stdout
    assert "feed:section:dunya\tDünya Haberleri\t(configured)" in listed.stdout
    assert "feed:tag:agit\tAGİT\t(site)" in listed.stdout
    as_json = newswire_in_process("names", "list", "--json")
    names = {n["target"]: n for n in json.loads(as_json.stdout)["names"]}
    assert names["feed:tag:nato"] == {
        "target": "feed:tag:nato",
        "name": "NATO (İttifak)",
        "source": "admin",
    }
    reader = ArticleReader(redis.Redis.from_url(settings.redis_url))
    assert reader.display_name("feed:tag:nato") == "NATO (İttifak)"


def test_unset_falls_back_to_the_sites_name(newswire_in_process, write, seed_article, db):
    write(seed_article)
    newswire_in_process("names", "set", "author", "dis-haberler-servisi", "Dış Haberler")
    result = newswire_in_process("names", "unset", "author", "dis-haberler-servisi")
    assert result.returncode == 0, result.stderr
    assert "unset; it shows 'Dış Haberler Servisi'" in result.stdout
    again = newswire_in_process("names", "unset", "author", "dis-haberler-servisi")
    assert "unchanged" in again.stdout
    assert db.hlen(redis_keys.ADMIN_NAMES) == 0


def test_another_publishers_author_feed_is_named_with_publisher(newswire_in_process, db):
    result = newswire_in_process(
        "names", "set", "author", "ayse-yilmaz", "Ayşe Yılmaz", "--publisher", "other"
    )
    assert result.returncode == 0, result.stderr
    assert db.hget(redis_keys.ADMIN_NAMES, "feed:author:other:ayse-yilmaz") == "Ayşe Yılmaz"
    unnamed = newswire_in_process("names", "unset", "author", "nobody", "--publisher", "other")
    assert "it shows its slug 'nobody'" in unnamed.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("section", "Seçim Masası", "Seçim"), "did you mean 'secim-masasi'"),
        (("section", "secim-masasi", " Seçim"), "padded"),
        (("section", "secim-masasi", "Seçim\x1b[2J"), "control characters"),
        (("section", "secim-masasi", "S" * 201), "longer than 200"),
        (("tag", "nato", "NATO", "--publisher", "other"), "only author feeds"),
    ],
)
def test_what_cannot_name_a_feed_is_refused_with_what_to_do(newswire_in_process, db, args, says):
    result = newswire_in_process("names", "set", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("newswire names: ")
    assert says in result.stderr
    assert db.hlen(redis_keys.ADMIN_NAMES) == 0


def test_an_unknown_kind_is_refused_by_the_parser(newswire_in_process):
    result = newswire_in_process("names", "set", "people", "ayse", "Ayşe")
    assert result.returncode == 2
    assert "invalid choice: 'people'" in result.stderr
