"""Redis key names, in one place so every process agrees on them."""

PREFIX = "nw:"
# hash: doc, hash, publisher, rev, updated, published, targets, retracted
ARTICLE = "nw:article:{id}"
# Per target: the index of its articles (sorted set by publish time; `#<part>` appended for
# a target split into stable parts), payloads stored beside it (hash), the byte size of each
# part (hash), and retractions kept for tombstones (sorted set by retraction time).
INDEX = "nw:idx:{target}"
PAYLOADS = "nw:idxp:{target}"
SHARDS = "nw:shards:{target}"
RETRACTED = "nw:gone:{target}"
NAMES = "nw:names"  # hash: target name → display name
TARGETS = "nw:targets"  # set: every target an article was ever written to
SWEEP = "nw:sweep"  # sorted set: "release:<id>" or "target:<name>" → due time (ms)
TARGET = "nw:target:{target}"  # hash: want, done, state (rebuild coordination)
DUE = "nw:due"  # sorted set: target → time (ms) the dispatcher must look at it again
BUILDS = "nw:builds"  # counter of finished builds, for operators and benchmarks


def article(article_id: str) -> str:
    return ARTICLE.format(id=article_id)


def target(name: str) -> str:
    return TARGET.format(target=name)


def index(name: str, part: int | None = None) -> str:
    return INDEX.format(target=name if part is None else f"{name}#{part}")


def payloads(name: str, part: int | None = None) -> str:
    return PAYLOADS.format(target=name if part is None else f"{name}#{part}")
