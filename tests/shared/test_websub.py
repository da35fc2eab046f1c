"""WebSub subscriptions in a real Redis: intents, verification, leases, expiry, signatures."""

from __future__ import annotations

import hashlib
import hmac

import pytest
import redis

from shared.settings import Settings
from shared.websub import (
    ETAG,
    LEASES,
    SUBS,
    Subscriptions,
    granted_lease,
    hub_url,
    is_topic_path,
    sign,
    topic_path,
    topic_url,
)

TOPIC = "http://127.0.0.1:8080/feeds/sections/dunya.rss"
CALLBACK = "https://okur.example.com/websub/callback?feed=dünya"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def subs(settings: Settings, clock: Clock) -> Subscriptions:
    return Subscriptions(redis.Redis.from_url(settings.redis_url), settings, clock)


def subscribe(subs: Subscriptions, callback: str = CALLBACK, lease: int | None = 3600, **kw):
    intent = subs.request("subscribe", kw.get("topic", TOPIC), callback, lease, kw.get("secret"))
    subs.verify(intent)
    return intent


def test_hub_and_topic_urls_follow_the_feeds_base_url() -> None:
    settings = Settings(feeds_base_url="https://feeds.example.com.tr/haber/")
    assert hub_url(settings) == "https://feeds.example.com.tr/haber/websub"
    topic = topic_url(settings, "feeds/sections/dunya.atom")
    assert topic == "https://feeds.example.com.tr/haber/feeds/sections/dunya.atom"
    assert topic_path(settings, topic) == "feeds/sections/dunya.atom"
    assert topic_path(settings, "https://feeds.example.com.tr/haber/feeds/all.json") == (
        "feeds/all.json"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://feeds.example.com.tr/haber/feeds/sections/dunya.html",  # a page, not a feed
        "https://feeds.example.com.tr/haber/sitemap.xml",
        "https://feeds.example.com.tr/haber/feeds/sections/../all.rss",
        "https://feeds.example.com.tr/haber/feeds/sections/dunya.rss?x=1",
        "https://feeds.example.com.tr/haber/feeds/other/dunya.rss",
        "https://feeds.example.com.tr/feeds/all.rss",  # outside the base path
        "https://elsewhere.example/haber/feeds/all.rss",
        "http://feeds.example.com.tr/haber/feeds/all.rss",
        "",
    ],
)
def test_only_our_feed_urls_are_topics(url: str) -> None:
    settings = Settings(feeds_base_url="https://feeds.example.com.tr/haber/")
    assert topic_path(settings, url) is None


def test_topic_paths_are_feed_formats_only() -> None:
    assert is_topic_path("feeds/tags/istanbul.json")
    assert not is_topic_path("feeds/tags/istanbul.html")
    assert not is_topic_path("cards/abc.jpg")
    assert not is_topic_path("index.html")


def test_lease_is_capped_and_defaulted() -> None:
    settings = Settings(websub_default_lease_s=600, websub_max_lease_s=3600)
    assert granted_lease(settings, None) == 600
    assert granted_lease(settings, 60) == 60
    assert granted_lease(settings, 10**9) == 3600
    assert granted_lease(Settings(websub_default_lease_s=7200, websub_max_lease_s=3600), None) == (
        3600
    )


def test_signature_is_hmac_sha256_of_the_body() -> None:
    # RFC 4231, test case 2.
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert sign("Jefe", b"what do ya want for nothing?") == f"sha256={expected}"
    body = "Rusya'dan flaş çıkış".encode()
    digest = hmac.new("sır".encode(), body, hashlib.sha256).hexdigest()
    assert sign("sır", body) == f"sha256={digest}"


def test_subscription_starts_only_when_verified(subs: Subscriptions, clock: Clock) -> None:
    intent = subs.request("subscribe", TOPIC, CALLBACK, 3600, "gizli")
    assert subs.pending(intent.id) == intent
    assert subs.active(TOPIC) == []
    subs.verify(intent)
    [active] = subs.active(TOPIC)
    assert (active.topic, active.callback, active.secret) == (TOPIC, CALLBACK, "gizli")
    assert active.expires_at == clock.now + 3600
    assert subs.pending(intent.id) is None


def test_intent_lease_is_granted_capped_or_defaulted(settings: Settings, clock: Clock) -> None:
    capped = settings.model_copy(update={"websub_max_lease_s": 100, "websub_default_lease_s": 50})
    subs = Subscriptions(redis.Redis.from_url(settings.redis_url), capped, clock)
    assert subs.request("subscribe", TOPIC, CALLBACK, 10**6, None).lease_seconds == 100
    assert subs.request("subscribe", TOPIC, CALLBACK, None, None).lease_seconds == 50
    assert subs.request("subscribe", TOPIC, CALLBACK, 7, None).lease_seconds == 7
    subscribe(subs, lease=10**6)
    assert subs.active(TOPIC)[0].expires_at == clock.now + 100


def test_discarded_intent_changes_nothing(subs: Subscriptions, db: redis.Redis) -> None:
    intent = subs.request("subscribe", TOPIC, CALLBACK, None, None)
    assert 0 < db.ttl(f"nw:websub:intent:{intent.id}") <= 3600  # an unverified intent expires
    subs.discard(intent.id)
    assert subs.pending(intent.id) is None
    assert subs.active(TOPIC) == []


def test_verified_unsubscribe_removes(subs: Subscriptions) -> None:
    subscribe(subs)
    subscribe(subs, callback="https://other.example/cb")
    intent = subs.request("unsubscribe", TOPIC, CALLBACK, None, None)
    assert len(subs.active(TOPIC)) == 2  # not before it is verified
    subs.verify(intent)
    assert [s.callback for s in subs.active(TOPIC)] == ["https://other.example/cb"]
    assert subs.remove(TOPIC, "https://other.example/cb")
    assert not subs.remove(TOPIC, "https://other.example/cb")
    assert subs.active(TOPIC) == []


def test_renewal_replaces_lease_and_secret(subs: Subscriptions, clock: Clock) -> None:
    subscribe(subs, secret="eski")
    clock.now += 1000
    subscribe(subs, secret=None, lease=60)
    [active] = subs.active(TOPIC)
    assert (active.secret, active.expires_at) == (None, clock.now + 60)


def test_expired_subscriptions_are_dropped(subs: Subscriptions, clock: Clock, db) -> None:
    subscribe(subs, lease=10)
    subscribe(subs, callback="https://long.example/cb", lease=1000)
    assert subs.get(TOPIC, CALLBACK) is not None
    clock.now += 10
    assert subs.get(TOPIC, CALLBACK) is None
    assert [s.callback for s in subs.active(TOPIC)] == ["https://long.example/cb"]
    assert not db.hexists(SUBS.format(topic=TOPIC), CALLBACK)
    clock.now += 1000
    assert subs.active(TOPIC) == []
    assert not db.exists(SUBS.format(topic=TOPIC), LEASES.format(topic=TOPIC))


def test_subscriptions_survive_a_new_client(settings: Settings, subs: Subscriptions) -> None:
    subscribe(subs, secret="kalıcı")
    fresh = Subscriptions(redis.Redis.from_url(settings.redis_url, decode_responses=True), settings)
    [active] = fresh.active(TOPIC)
    assert (active.callback, active.secret) == (CALLBACK, "kalıcı")


def test_only_changed_followed_topics_are_claimed(subs: Subscriptions, db: redis.Redis) -> None:
    other = TOPIC.replace(".rss", ".atom")

    def claimed(etags: dict[str, str], every: bool = False) -> list[str]:
        return [change.topic for change in subs.claim_changes(etags, every=every)]

    assert claimed({TOPIC: '"a"', other: '"b"'}) == []
    assert not db.exists(ETAG.format(topic=TOPIC))  # nobody follows: nothing written
    subscribe(subs)
    assert claimed({TOPIC: '"a"', other: '"b"'}) == [TOPIC]
    assert claimed({TOPIC: '"a"', other: '"b"'}) == []  # same bytes: no news
    assert claimed({TOPIC: '"c"'}) == [TOPIC]
    assert claimed({other: '"b"'}, every=True) == [other]
    assert claimed({}) == []


def test_a_claimed_topic_names_its_live_subscribers_when_few(
    subs: Subscriptions, clock: Clock
) -> None:
    subscribe(subs, callback="https://a.example/cb", lease=1000)
    subscribe(subs, callback="https://b.example/cb", lease=10)
    [change] = subs.claim_changes({TOPIC: '"a"'}, few=2)
    assert change.callbacks == ("https://b.example/cb", "https://a.example/cb")  # by lease end
    [change] = subs.claim_changes({TOPIC: '"b"'}, few=1)
    assert change.callbacks is None  # more than a few: fanned out
    clock.now += 20  # b's lease ran out
    [change] = subs.claim_changes({TOPIC: '"c"'}, few=1)
    assert change.callbacks == ("https://a.example/cb",)
    [change] = subs.claim_changes({TOPIC: '"d"'})
    assert change.callbacks is None  # by default every change is fanned out


def test_dead_letters_are_capped_newest_first(settings: Settings, clock: Clock) -> None:
    small = settings.model_copy(update={"websub_dead_letters_max": 3})
    subs = Subscriptions(redis.Redis.from_url(settings.redis_url), small, clock)
    for attempt in range(5):
        clock.now += 1
        subs.dead_letter(TOPIC, f"https://cb.example/{attempt}", "HTTP 500", 4)
    letters = subs.dead_letters()
    assert [letter.callback[-1] for letter in letters] == ["4", "3", "2"]
    assert (letters[0].reason, letters[0].attempts, letters[0].at) == ("HTTP 500", 4, clock.now)
    assert len(subs.dead_letters(limit=1)) == 1
    assert subs.clear_dead_letters() == 3
    assert subs.dead_letters() == []
