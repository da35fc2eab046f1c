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
LAST_BUILD = "nw:lastbuild:{kind}"  # hash: target, outcome, at, seconds (a kind's newest build)
# Dead letters: hash target → JSON (a build given up on), hash article id → JSON (a stored
# article that cannot be read, left out of every output).
DEAD_BUILDS = "nw:dead:builds"
DEAD_ARTICLES = "nw:dead:articles"
# API keys kept in Redis, by the SHA-256 hex digest of the secret (never the secret itself).
API_KEY = "nw:apikey:{digest}"  # hash: publisher, scopes, created, revoked
API_KEYS = "nw:apikeys"  # set: the digest of every key ever created
RATE = "nw:rate:{digest}"  # string: the key's rate-limit state (GCRA arrival time, µs)


def article(article_id: str) -> str:
    return ARTICLE.format(id=article_id)


def target(name: str) -> str:
    return TARGET.format(target=name)


def last_build(kind: str) -> str:
    return LAST_BUILD.format(kind=kind)


def index(name: str, part: int | None = None) -> str:
    return INDEX.format(target=name if part is None else f"{name}#{part}")


def payloads(name: str, part: int | None = None) -> str:
    return PAYLOADS.format(target=name if part is None else f"{name}#{part}")


def api_key(digest: str) -> str:
    return API_KEY.format(digest=digest)


def rate(digest: str) -> str:
    return RATE.format(digest=digest)
