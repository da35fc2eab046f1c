"""Typed settings for every Newswire process, read from `NEWSWIRE_*` environment variables.

Build one `Settings` at a composition root (`__main__`, the Celery worker module) and pass
it down; nothing else reads the environment.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, HttpUrl, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Section, tag and author feeds are named by slugs: lowercase letters, digits and hyphens.
_FEED_TARGET = re.compile(r"feed:(section|tag|author):[a-z0-9]+(-[a-z0-9]+)*")
# What no feed title can hold: controls (XML forbids most), lone surrogates, U+FFFE/U+FFFF.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSWIRE_", frozen=True)

    environment: Literal["development", "production"] = "development"

    # Redis holds articles, indexes, the event stream and (by default) the Celery broker.
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str | None = None

    # Site identity, used in feed titles, links and tag: URIs.
    site_url: HttpUrl = HttpUrl("https://haber.example.com.tr/")
    site_name: str = "Haber"
    language: str = "tr"
    timezone: str = "Europe/Istanbul"
    feeds_base_url: HttpUrl = HttpUrl("http://127.0.0.1:8080/")
    # The date in item ids (tag:<site host>,<date>:…): a day the site's owner held its host.
    tag_date: str = Field(default="2026", pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")

    # Ingest API. Keys are SHA-256 hex digests of the bearer tokens, mapped to publisher names.
    api_keys: dict[str, str] = Field(default_factory=dict)
    max_request_bytes: int = 2 * 1024 * 1024
    max_batch_request_bytes: int = 64 * 1024 * 1024
    max_batch_items: int = 1000
    # What names a ninjs document's section: `anpa_category`, `genre`, or a prefix of a
    # subject's uri/scheme/code; empty (or no match): its first category, genre or subject.
    ninjs_section_scheme: str = ""
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8000
    # Ingest's public base URL: what `newswire superdesk add` prints for Superdesk to push to.
    ingest_base_url: HttpUrl = HttpUrl("http://127.0.0.1:8000/")
    # The largest image a Superdesk destination may push as an asset (bytes).
    superdesk_max_asset_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Processes serving the ingest API from one socket: one tops out at about a core, since a
    # PUT spends most of its time in Python. Their /metrics share one directory.
    ingest_workers: int = Field(default=2, ge=1, le=64)
    # Per-key rate limit (GCRA in Redis): a steady rate with bursts of up to `burst` requests;
    # a batch is one request. The default sits above what ingest does here (under 1,000
    # PUT/s on 2 cores), so it binds only a runaway client; 0 turns the limit off. Processes
    # lease tokens in small lots (services/ingest/rate_limit.py), not one Redis call each.
    rate_limit_per_s: float = Field(default=2000.0, ge=0)
    rate_limit_burst: int = Field(default=4000, ge=1)
    # Hostile input. A body_html nesting deeper, with more elements (re-opened formatting
    # included) or with more attributes on one element is refused: an HTML parser's work
    # grows faster than linearly past these. Validation runs on at most `validation_threads`
    # threads, off the event loop (one by default: more mostly compete with the loop for the
    # GIL; /healthz p99 under hostile load was 26 ms with one, 90 ms with two). A request
    # body must arrive within `body_read_timeout_s` (else 408), headers fit in
    # `max_header_bytes` (else 431), and an idle keep-alive connection closes after
    # `keep_alive_timeout_s`.
    html_max_depth: int = Field(default=64, ge=8)
    html_max_elements: int = Field(default=20_000, ge=100)
    html_max_attributes: int = Field(default=100, ge=8)
    validation_threads: int = Field(default=1, ge=1)
    body_read_timeout_s: float = Field(default=10.0, gt=0)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    keep_alive_timeout_s: float = Field(default=5.0, gt=0)

    # Event stream and rebuild coordination.
    events_stream: str = "nw:events"
    events_maxlen: int = 1_000_000
    consumer_group: str = "render"
    consumer_name: str | None = None
    # A dispatcher's entries idle this long are claimed by another; a building worker renews
    # its lease every third of it, so only a lost worker's or dispatcher's work waits it out.
    claim_idle_ms: int = Field(default=2_500, ge=100)
    # A target built within this window is hot: its next events wait for the window's end
    # and coalesce into one build. After a build that covered a burst, the next window is
    # twice the last, up to the longest, so a burst costs a few builds and then one per
    # longest window. A quiet target is built at once. See services/render/pipeline/
    # coordinator.py.
    debounce_window_ms: int = Field(default=25, ge=0)
    debounce_window_max_ms: int = Field(default=200, ge=0)
    # A hot sitemap (the news sitemap takes every article) waits at least this long after its
    # last build: crawlers read sitemaps every few minutes.
    sitemap_window_ms: int = Field(default=500, ge=0)
    # A build queued this long without starting (behind more urgent ones) is sent again at
    # the promoted priority, ahead of routine builds; at the lease or above, never.
    build_promote_ms: int = Field(default=150, ge=1)
    # One still waiting this long (behind urgent ones) is sent again at urgent priority, so no
    # target starves; at the lease or above, never.
    build_deadline_ms: int = Field(default=600, ge=1)
    build_lease_ms: int = Field(default=3_000, ge=300)
    # A failed build is retried after each delay here (transient errors only), then parked
    # as a dead letter (`newswire dead-letters`); delays stay short, driven by the coordinator.
    build_retry_delays_s: list[float] = Field(default_factory=lambda: [0.2, 0.5, 1.0, 2.0])

    # Rendering.
    feed_size: int = Field(default=50, ge=1, le=1000)
    # Brotli variants beside the gzip ones: 0 (the default) writes none. On 50-item feeds,
    # quality 5 came out 0.6% smaller than gzip -6 and took twice its time, on the build's
    # hot path (bench/feed_build.py); clients that accept br get the gzip variant instead.
    brotli_quality: int = Field(default=0, ge=0, le=11)
    # Each worker process's memory caches, bounded by bytes (an article may hold a 1 MB body):
    # parsed articles, and feed entries rendered once for every feed that shows them.
    reader_cache_mb: int = Field(default=64, ge=1)
    feed_entry_cache_mb: int = Field(default=64, ge=1)

    # Sitemaps. A monthly partition splits into parts past these limits (the protocol's);
    # the index and robots.txt name files under `sitemap_base_url` (default: the feeds
    # service), which may be the news site itself when it proxies /sitemap*.
    sitemap_max_urls: int = Field(default=50_000, ge=1, le=50_000)
    sitemap_max_bytes: int = Field(default=50 * 1024 * 1024, ge=4096, le=50 * 1024 * 1024)
    sitemap_base_url: HttpUrl | None = None

    # Artifact kinds beyond the built-in ones (services/render/kinds): "module:Class" paths.
    extra_kinds: list[str] = Field(default_factory=list)

    # Artifact store: "filesystem" needs a disk shared by workers and the feeds service;
    # "redis" keeps artifacts in Redis, for hosts that share nothing else.
    store_backend: Literal["filesystem", "redis"] = "filesystem"
    artifact_dir: Path = Path("var/artifacts")
    # Artifacts each process keeps in memory (the feeds service serves hot ones from there).
    store_cache_mb: int = Field(default=256, ge=1)

    # Outbound HTTP (card images, WebSub callbacks) through the guarded fetcher. Addresses
    # that are not globally routable are refused unless a network here allows them (tests).
    fetch_allow_networks: list[str] = Field(default_factory=list)
    fetch_deadline_s: float = Field(default=5.0, gt=0)
    fetch_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)

    # Social cards: colours as #rrggbb, an optional logo (PNG with transparency), and how
    # recent an article must be to get a card (0: every article, archives included).
    card_background: str = "#12284c"
    card_accent: str = "#e30a17"
    card_text: str = "#ffffff"
    card_logo: Path | None = None
    card_recent_days: int = Field(default=30, ge=0)

    # WebSub hub at <feeds_base_url>websub. A subscription lasts the lease it asked for,
    # capped at `websub_max_lease_s`, or `websub_default_lease_s` if it asked for none. A failed
    # delivery is retried after each delay here, then kept as a dead letter (the newest
    # `websub_dead_letters_max`); delays stay short because the Redis broker redelivers tasks
    # whose ETA is past its visibility timeout. Changed topics are also announced (a
    # `hub.mode=publish` ping) to each of `websub_external_hubs`.
    websub_default_lease_s: int = Field(default=86_400, ge=1)
    websub_max_lease_s: int = Field(default=10 * 86_400, ge=1)
    websub_retry_delays_s: list[float] = Field(default_factory=lambda: [1.0, 2.0, 4.0])
    websub_dead_letters_max: int = Field(default=1000, ge=1)
    websub_external_hubs: list[HttpUrl] = Field(default_factory=list)
    # Hub requests each client address (an IPv6 client's /64) may make in any 60 s; 0: no limit.
    websub_subscribe_per_minute: int = Field(default=30, ge=0)
    # Verifications of intent pending or running at once against one callback host.
    websub_pending_per_host: int = Field(default=10, ge=1)
    # Verifications of intent pending or running at once in the whole deployment.
    websub_verify_queue_max: int = Field(default=100, ge=1)
    # Whether a hub request needs `Authorization: Bearer <key>` (a key that may write articles).
    websub_require_key: bool = False

    # Feeds service.
    feeds_host: str = "127.0.0.1"
    feeds_port: int = 8080
    feed_max_age: int = 60
    # With the filesystem store, how long the feeds service serves a file from memory before
    # asking the disk again whether it changed: a published file shows within this long,
    # and a request for a hot file makes no system call. (The Redis store is told at once.)
    feeds_recheck_ms: int = Field(default=50, ge=0, le=1000)
    # The HTTP server: granian (Rust, about 1.5x the requests per second here) or uvicorn.
    feeds_server: Literal["granian", "uvicorn"] = "granian"
    # Display names of section, tag and author feeds, by target name
    # ({"feed:section:dunya": "Dünya"}). An admin's name (`newswire names`) wins over these;
    # a feed named by neither keeps the one the site publisher's first article in it gave it.
    display_names: dict[str, str] = Field(default_factory=dict)
    # The publisher that is the site itself (its API key's publisher name): its articles' first
    # write names a feed no admin has named; another publisher's never names or renames one.
    site_publisher: str | None = None

    # Prometheus: ingest and feeds serve /metrics on their own port; the dispatcher and each
    # Celery worker serve it on this one (each process gets its own value; 0: none).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # What `make run` gives each of those processes as its `metrics_port` (compose sets each
    # service's own): two stacks on one machine move these apart like every other port.
    dispatcher_metrics_port: int = Field(default=9101, ge=1, le=65535)
    worker_metrics_port: int = Field(default=9102, ge=1, le=65535)
    card_worker_metrics_port: int = Field(default=9103, ge=1, le=65535)
    push_worker_metrics_port: int = Field(default=9104, ge=1, le=65535)
    # Logs: plain text lines, or one JSON object per line for log pipelines.
    log_format: Literal["text", "json"] = "text"
    # The longest an HTTP request waits on Redis before it answers 503 with Retry-After: a
    # hung Redis holds no request longer than this.
    redis_request_timeout_s: float = Field(default=0.5, gt=0, le=30)
    # How often /readyz's background probe pings Redis (and the broker): how soon it notices.
    readiness_interval_s: float = Field(default=1.0, gt=0, le=60)
    # `newswire status` warns when no dispatcher read, or no build finished with work
    # waiting, for this long.
    status_stale_s: int = Field(default=30, ge=1, le=3600)

    @field_validator("api_keys")
    @classmethod
    def _keys_are_digests(cls, keys: dict[str, str]) -> dict[str, str]:
        for digest in keys:
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError("api_keys must map lowercase SHA-256 hex digests to publishers")
        return keys

    @field_validator("fetch_allow_networks")
    @classmethod
    def _networks(cls, networks: list[str]) -> list[str]:
        for network in networks:
            ipaddress.ip_network(network)  # a ValueError names the bad one
        return networks

    @field_validator("websub_retry_delays_s")
    @classmethod
    def _short_delays(cls, delays: list[float]) -> list[float]:
        if any(not 0 <= delay <= 10 for delay in delays):
            raise ValueError("websub_retry_delays_s must each be 0 to 10 seconds")
        return delays

    @field_validator("display_names")
    @classmethod
    def _named_feeds(cls, names: dict[str, str]) -> dict[str, str]:
        for target, name in names.items():
            if not _FEED_TARGET.fullmatch(target):
                raise ValueError(
                    f"display_names: {target!r} is not a feed target such as 'feed:section:dunya'"
                )
            if not name.strip() or name != name.strip():
                raise ValueError(f"display_names: the name of {target!r} is empty or padded")
            if _CONTROL.search(name):
                raise ValueError(f"display_names: the name of {target!r} has control characters")
        return names

    @field_validator("build_retry_delays_s")
    @classmethod
    def _short_build_delays(cls, delays: list[float]) -> list[float]:
        if any(not 0 <= delay <= 10 for delay in delays):
            raise ValueError("build_retry_delays_s must each be 0 to 10 seconds")
        return delays

    @model_validator(mode="after")
    def _production_needs_identity(self) -> Settings:
        if self.environment != "production":
            return self
        if not self.api_keys:
            raise ValueError("NEWSWIRE_API_KEYS must be set in production")
        if not self.site_publisher:
            # Without it no article names a feed: every section would show its slug.
            raise ValueError("NEWSWIRE_SITE_PUBLISHER must be set in production")
        # Item ids and self links derive from these: a default now, corrected later, would
        # change every id and make feed readers show every story again.
        for name in ("site_url", "feeds_base_url"):
            if name not in self.model_fields_set:
                raise ValueError(f"NEWSWIRE_{name.upper()} must be set in production")
        return self

    @property
    def celery_broker_url(self) -> str:
        """The broker URL in kombu's spelling (a unix socket is `redis+socket://`)."""
        url = self.broker_url or self.redis_url
        if url.startswith("unix://"):
            return "redis+socket://" + url.removeprefix("unix://")
        return url

    @property
    def sitemap_base(self) -> str:
        return str(self.sitemap_base_url or self.feeds_base_url)

    @property
    def site_host(self) -> str:
        return urlsplit(str(self.site_url)).hostname or "localhost"
