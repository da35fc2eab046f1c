"""Redis key names, in one place so every process agrees on them.

Lua scripts spell no key name either: each gets its fixed keys in KEYS, and in ARGV the prefix
of each family whose names depend on data only the script reads (`family`, `target_families`),
so a change of layout here reaches them too. That is why the field a script fills in (an
article id, a target's name) ends its family's template.
"""

from string import Formatter

PREFIX = "nw:"
# hash: doc, hash, publisher, rev, updated, published, targets, retracted
ARTICLE = PREFIX + "article:{id}"
# hash: article id → its digest (the article hash's `hash`), for every stored article not
# retracted, so a build reads the digests of a feed's articles in one command. Articles
# stored before it existed have no entry here: readers fall back to their article hash.
DIGESTS = PREFIX + "digests"
# Per target: the index of its articles (sorted set by publish time; PART_SEPARATOR and the
# part number appended for a target split into stable parts), payloads stored beside it
# (hash), the byte size of each part (hash), and retractions kept for tombstones (sorted set
# by retraction time).
INDEX = PREFIX + "idx:{target}"
PAYLOADS = PREFIX + "idxp:{target}"
SHARDS = PREFIX + "shards:{target}"
RETRACTED = PREFIX + "gone:{target}"
PART_SEPARATOR = "#"
# Display names, hash target name → name: those the site publisher's first article in each
# target gave it, and those an admin set (`newswire names`, /v1/names), which win.
NAMES = PREFIX + "names"
ADMIN_NAMES = PREFIX + "names:admin"
TARGETS = PREFIX + "targets"  # set: every target an article was ever written to
SWEEP = PREFIX + "sweep"  # sorted set: "release:<id>" or "target:<name>" → due time (ms)
TARGET = PREFIX + "target:{target}"  # hash: want, done, state (rebuild coordination)
DUE = PREFIX + "due"  # sorted set: target → time (ms) the dispatcher must look at it again
BUILDS = PREFIX + "builds"  # counter of finished builds, for operators and benchmarks
LAST_BUILD = PREFIX + "lastbuild:{kind}"  # hash: target, outcome, at, seconds (newest build)
# Dead letters: hash target → JSON (a build given up on), hash article id → JSON (a stored
# article that cannot be read, left out of every output).
DEAD_BUILDS = PREFIX + "dead:builds"
DEAD_ARTICLES = PREFIX + "dead:articles"
# API keys kept in Redis, by the SHA-256 hex digest of the secret (never the secret itself).
API_KEY = PREFIX + "apikey:{digest}"  # hash: publisher, scopes, created, revoked
API_KEYS = PREFIX + "apikeys"  # set: the digest of every key ever created
RATE = PREFIX + "rate:{digest}"  # string: the key's rate-limit state (GCRA arrival time, µs)
# The artifact store (shared/store/redis_backend.py): per path a hash (body, gzip, br,
# modified); sets of the published paths and of removed ones that answer 410 Gone; hash
# target → watermark of its newest write; and the pub/sub channel announcing changed paths.
ARTIFACT = PREFIX + "artifact:{path}"
ARTIFACTS = PREFIX + "artifacts"
ARTIFACTS_GONE = PREFIX + "artifacts:gone"
ARTIFACT_MARKS = PREFIX + "artifact-marks"
ARTIFACTS_CHANGED = PREFIX + "artifacts:changed"
# The WebSub hub (shared/websub.py), per topic URL: subscriptions (hash callback → JSON
# {"secret": str | null}), leases (sorted set callback → lease end, ms since the epoch), the
# ETag subscribers were last sent (string); intents awaiting verification (string: JSON,
# expiring unverified); dead letters (list of JSON, newest first, capped).
WEBSUB_SUBS = PREFIX + "websub:subs:{topic}"
WEBSUB_LEASES = PREFIX + "websub:leases:{topic}"
WEBSUB_ETAG = PREFIX + "websub:etag:{topic}"
WEBSUB_INTENT = PREFIX + "websub:intent:{id}"
WEBSUB_DEAD = PREFIX + "websub:dead"
# The hub's limits (shared/websub_limits.py): per client address, the times of its recent
# requests (sorted set member → ms); verifications of intent pending or running, per callback
# host and in the whole deployment (sorted sets intent id → slot expiry, ms).
WEBSUB_CLIENT = PREFIX + "websub:client:{client}"
WEBSUB_PENDING_HOST = PREFIX + "websub:pending-host:{host}"
WEBSUB_PENDING = PREFIX + "websub:pending"
# Superdesk HTTP Push destinations (services/ingest/superdesk/): per destination a hash
# (publisher, secret, created); the set of every destination id; and per destination its
# pushed assets (hash Superdesk media id → artifact path of the stored image).
SUPERDESK_DESTINATION = PREFIX + "superdesk:destination:{id}"
SUPERDESK_DESTINATIONS = PREFIX + "superdesk:destinations"
SUPERDESK_ASSETS = PREFIX + "superdesk:assets:{id}"


def family(template: str, **fields: str) -> str:
    """The prefix every name of `template`'s family shares (its other fields filled from
    `fields`), for a script that appends the last field (an article id, a target name)."""
    *_, (_, last, _, _) = Formatter().parse(template)
    if last is None:
        raise ValueError(f"{template!r}: a script can only append a trailing field")
    return template.format(**fields, **{last: ""})


def target_families() -> list[str]:
    """The last arguments of upsert.lua and retract.lua (shared/state/lua/targets.lua reads
    them): the prefixes of a target's index, payloads, part sizes and retractions, then the
    separator before a part number."""
    return [family(INDEX), family(PAYLOADS), family(SHARDS), family(RETRACTED), PART_SEPARATOR]


def article(article_id: str) -> str:
    return ARTICLE.format(id=article_id)


def target(name: str) -> str:
    return TARGET.format(target=name)


def last_build(kind: str) -> str:
    return LAST_BUILD.format(kind=kind)


def _part(name: str, part: int | None) -> str:
    return name if part is None else f"{name}{PART_SEPARATOR}{part}"


def index(name: str, part: int | None = None) -> str:
    return INDEX.format(target=_part(name, part))


def payloads(name: str, part: int | None = None) -> str:
    return PAYLOADS.format(target=_part(name, part))


def api_key(digest: str) -> str:
    return API_KEY.format(digest=digest)


def rate(digest: str) -> str:
    return RATE.format(digest=digest)


def artifact(path: str) -> str:
    return ARTIFACT.format(path=path)
