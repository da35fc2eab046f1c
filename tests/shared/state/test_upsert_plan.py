"""The plan of an upsert, made from the stored bookkeeping before the script runs."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from shared.article import Article
from shared.kinds.registry import Registry
from shared.state.upsert_plan import PLAN_FIELDS, Known, Stored, Wanted, refusal, script_args

# Where upsert.lua's groups start: the `targets` map's members, then the event's targets
# (shown before and now, now only, before only).
HELD, TOUCHED_BOTH, TOUCHED_NOW, TOUCHED_BEFORE = 11, 12, 13, 14


def wanted(settings, raw: dict[str, Any], publisher: str = "newsroom") -> Wanted:
    article = Article.model_validate(raw, context={"default_language": "tr"})
    entries = Registry.from_settings(settings).entries(article, publisher)
    return Wanted(article, publisher, *article.serialized(), entries)


def stored(**fields: str) -> Stored:
    return Stored.read([fields.get(name) for name in PLAN_FIELDS])


def groups(args: list[Any]) -> list[list[Any]]:
    """The counted groups after the event's targets: index, payloads, sharded, left, gone,
    fresh, labels."""
    widths, at, found = (2, 2, 12, 3, 1, 1, 2), TOUCHED_BEFORE + 1, []
    for width in widths:
        count = args[at]
        found.append(args[at + 1 : at + 1 + count * width])
        at += 1 + count * width
    assert at == len(args)
    return found


def test_what_is_refused_before_any_script_runs(settings, seed_article):
    one = wanted(settings, seed_article)
    updated = int(one.article.modified.timestamp() * 1000)
    mine = {"publisher": "newsroom", "rev": "3", "hash": "other", "updated": str(updated)}
    assert refusal(one, stored()) is None
    assert refusal(one, stored(**{**mine, "publisher": "baskasi"})) == "forbidden"
    assert refusal(one, stored(**{**mine, "updated": str(updated + 1)})) == "stale"
    assert refusal(one, stored(**mine)) is None  # same time, other content: a new revision
    assert refusal(one, stored(**{**mine, "hash": one.digest})) == "unchanged"
    # A takedown sticks unless a strictly newer revision comes.
    assert refusal(one, stored(**{**mine, "retracted": "1"})) == "stale"
    assert refusal(one, stored(**{**mine, "retracted": "1", "updated": str(updated - 1)})) is None


@pytest.mark.parametrize("form", ["list", "map"])
def test_targets_held_in_the_old_list_form_are_all_owed(settings, seed_article, form):
    one = wanted(settings, seed_article)
    names = [e.name for e in one.entries]
    old = ["feed:all", "feed:section:eski"]
    held = old if form == "list" else {n: ["x", 0, 0, 0] for n in old}
    base = {"publisher": "newsroom", "rev": "1", "hash": "h", "updated": "0", "published": "0"}
    args = script_args(one, stored(**base, targets=json.dumps(held)), Known(), True)
    assert args[1] == 1  # planned against the revision read
    touched = orjson.loads(args[TOUCHED_BOTH])
    assert set(touched) == set(names) | {"feed:section:eski"}
    _, _, _, left, _, fresh, labels = groups(args)
    assert left == ["feed:section:eski", 0, 0]
    if form == "list":  # written before fingerprints: every target counts as new
        assert set(fresh) == set(names)
        assert labels
    else:
        assert "feed:all" not in fresh
        assert "feed:all" not in labels[::2]


def test_targets_known_to_be_listed_or_named_are_not_sent_again(settings, seed_article):
    one = wanted(settings, seed_article)
    names = {e.name for e in one.entries}
    labelled = {e.name for e in one.entries if e.label is not None}
    everything = script_args(one, stored(), Known(), names_targets=True)
    *_, fresh, labels = groups(everything)
    assert set(fresh) == names
    assert set(labels[::2]) == labelled
    known = Known(targets=names - {"feed:all"}, named=labelled - {"feed:tag:nato"})
    *_, fresh, labels = groups(script_args(one, stored(), known, names_targets=True))
    assert fresh == ["feed:all"]
    assert labels == ["feed:tag:nato", "NATO"]
    # Another publisher's articles name nothing.
    *_, labels = groups(script_args(one, stored(), Known(), names_targets=False))
    assert labels == []


def test_the_targets_map_is_json_once_the_script_adds_its_sharded_members(settings, seed_article):
    one = wanted(settings, seed_article)
    args = script_args(one, stored(), Known(), True)
    _, _, sharded, *_ = groups(args)
    assert len(sharded) == 12  # the month, whose part the script chooses
    name, prefix, keep = sharded[0], sharded[10], sharded[11]
    members = [args[HELD].decode(), f"{prefix}1,{sharded[3]},{keep}]"]
    stored_map = json.loads("{" + ",".join(members) + "}")
    assert set(stored_map) == {e.name for e in one.entries}
    assert stored_map[name][1:] == [1, sharded[3], 0]
    assert stored_map["feed:all"] == [one.article.digest, 0, 0, 1]
