"""Redis key names, in one place so every process agrees on them."""

# hash: doc, hash, publisher, rev, updated, published, targets, retracted
ARTICLE = "nw:article:{id}"
INDEX = "nw:idx:{target}"  # sorted set of visible-or-embargoed article ids by publish time
NAMES = "nw:names"  # hash: target name → display name
EMBARGO = "nw:embargo"  # sorted set: article id → release time (ms)
TARGET = "nw:target:{target}"  # hash: want, done, state (rebuild coordination)
DUE = "nw:due"  # sorted set: target → time (ms) the dispatcher must look at it again
BUILDS = "nw:builds"  # counter of finished builds, for operators and benchmarks


def article(article_id: str) -> str:
    return ARTICLE.format(id=article_id)


def target(name: str) -> str:
    return TARGET.format(target=name)
