"""The feeds service beside nginx: the same file, the same artifact folder, the same wrk run.

.venv/bin/python -m bench.serve [--serve-duration 10] [--serve-connections 64]

Builds a real `/feeds/all.rss` (as many corpus articles as fit in `--size-kb`, 90 by
default, with its `.gz` variant) into a throwaway artifact folder, serves that folder from
the feeds service (`python -m services.feeds`, as compose runs it) and from nginx (one
worker, gzip_static), and runs `wrk -t2 -c64 --latency` against each for full 200s, 304s
(If-None-Match with the server's own ETag) and gzip 200s. Prints requests/s, p99 latency,
the feeds ÷ nginx ratio beside its target, and the share of the machine's CPU that wrk
itself used.

wrk and nginx come from Debian: `sudo apt-get install wrk nginx-light` (`make bench-tools`).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.articles import ArticleFactory
from bench.cli import run_main
from bench.report import Figure, say

# Ratios of the feeds service to nginx, per kind of request, that the service must reach.
TARGETS = {"200": 0.5, "304": 0.35, "gzip": 0.35}
FEED = "feeds/all.rss"


@dataclass
class WrkResult:
    requests_per_s: float
    p99_ms: float
    non_2xx_3xx: int
    cpu_share: float  # of the whole machine (all cores), used by wrk itself


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__.splitlines()[0])
    p.add_argument(
        "--serve-duration",
        dest="serve_duration",
        type=int,
        default=10,
        help="seconds per wrk run (10)",
    )
    p.add_argument(
        "--serve-connections", dest="serve_connections", type=int, default=64,
        help="wrk connections (64)",
    )  # fmt: skip
    p.add_argument(
        "--size-kb", type=int, default=90, help="make the feed about this big, ≤ 50 items (90)"
    )
    return p


def build_artifacts(root: Path, size_kb: int) -> tuple[int, int]:
    """Render the site-wide feed into `root`, with as many corpus articles (at most 50) as
    keep it within `size_kb`; returns (items, bytes)."""
    from services.render.feed.formats import RENDERERS
    from services.render.feed.model import FeedTarget, build_feed
    from shared.article import Article
    from shared.settings import Settings
    from shared.store.artifacts import encode
    from shared.store.filesystem import FilesystemStore

    settings = Settings(artifact_dir=root)
    factory = ArticleFactory(run="serve")
    articles = [
        Article.model_validate(factory.make(n), context={"default_language": "tr"})
        for n in range(50)
    ]
    articles.sort(key=lambda a: a.published_at, reverse=True)
    while True:
        body = RENDERERS["rss"](build_feed(FeedTarget("all"), articles, None, settings))
        if len(body) <= size_kb * 1024 or len(articles) == 1:
            break
        articles.pop()
    FilesystemStore(root).publish("feed:all", [encode(FEED, body, settings.brotli_quality)], "1-0")
    # nginx's worker drops to an unprivileged user: let it read the folder.
    for folder in [root.parent, *(p for p in root.rglob("*") if p.is_dir()), root]:
        folder.chmod(0o755)
    for file in (p for p in root.rglob("*") if p.is_file()):
        file.chmod(0o644)
    return len(articles), len(body)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                response.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def feeds_service(root: Path, log: Path) -> Iterator[str]:
    port = free_port()
    env = os.environ | {
        "NEWSWIRE_STORE_BACKEND": "filesystem",
        "NEWSWIRE_ARTIFACT_DIR": str(root),
        "NEWSWIRE_FEEDS_PORT": str(port),
        "NEWSWIRE_FEEDS_BASE_URL": f"http://127.0.0.1:{port}/",
    }
    with _process([sys.executable, "-m", "services.feeds"], env, log) as _:
        base = f"http://127.0.0.1:{port}/"
        wait_for(base + FEED)
        yield base


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ application/rss+xml rss; }}
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    gzip_static on;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


@contextmanager
def nginx(root: Path, tmp: Path, log: Path) -> Iterator[str]:
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, root=root))
    with _process([shutil.which("nginx") or "nginx", "-c", str(conf)], dict(os.environ), log):
        base = f"http://127.0.0.1:{port}/"
        wait_for(base + FEED)
        yield base


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    with open(log, "ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def etag_of(url: str, headers: dict[str, str]) -> str:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()
        return str(response.headers["ETag"])


def status_of(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:  # urllib raises on a 304 too
        return exc.code


def wrk(url: str, headers: dict[str, str], args: argparse.Namespace) -> WrkResult:
    """One wrk run; its own CPU time comes from the kernel's accounting of the child."""
    command = ["wrk", "-t2", f"-c{args.serve_connections}", f"-d{args.serve_duration}s"]
    command += ["--latency"] + [f"-H{name}: {value}" for name, value in headers.items()]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    p99_ms = float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return WrkResult(rate, p99_ms, int(bad.group(1)) if bad else 0, cpu / (wall * os.cpu_count()))


KINDS = {
    "200": {},
    "304": None,  # If-None-Match with the server's own ETag, filled in per server
    "gzip": {"Accept-Encoding": "gzip"},
}


def measure(base: str, args: argparse.Namespace) -> dict[str, WrkResult]:
    url = base + FEED
    results = {}
    for kind, headers in KINDS.items():
        if headers is None:
            headers = {"If-None-Match": etag_of(url, {})}
            # A server that ignored the ETag would be measured on 200s, with no error shown.
            if (status := status_of(url, headers)) != 304:
                raise SystemExit(f"{url} answered its own ETag with {status}, not 304")
        say(f"  {kind}: wrk {args.serve_duration}s …")
        results[kind] = wrk(url, headers, args)
    return results


def run(args: argparse.Namespace) -> list[Figure]:
    missing = [tool for tool in ("wrk", "nginx") if shutil.which(tool) is None]
    if "wrk" in missing:
        raise SystemExit("wrk is not installed: run `make bench-tools` (apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="newswire-serve-") as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "artifacts"
        items, size = build_artifacts(root, args.size_kb)
        say(
            f"== serving /{FEED} ({items} items, {size / 1024:.0f} KB), wrk -t2 "
            f"-c{args.serve_connections} -d{args.serve_duration}s --latency, "
            f"{os.cpu_count()} cores"
        )
        say("feeds service:")
        with feeds_service(root, tmp / "feeds.log") as base:
            ours = measure(base, args)
        theirs: dict[str, WrkResult] = {}
        if "nginx" in missing:
            say("nginx is not installed (`make bench-tools`): no ratios")
        else:
            say("nginx (1 worker, gzip_static):")
            with nginx(root, tmp, tmp / "nginx.log") as base:
                theirs = measure(base, args)
    return figures(ours, theirs)


def figures(ours: dict[str, WrkResult], theirs: dict[str, WrkResult]) -> list[Figure]:
    """One figure per kind of request: the feeds service's rate, or, beside nginx, the ratio
    of the two rates held to its target."""
    out = []
    for kind, result in ours.items():
        label = f"feeds service, {kind}s (wrk CPU {result.cpu_share:.0%})"
        errors = f", {result.non_2xx_3xx} errors" if result.non_2xx_3xx else ""
        shown = f"p99 {result.p99_ms:.1f} ms{errors}"
        if kind not in theirs:
            # Without nginx there is no ratio: the target is still shown, and missed.
            out.append(Figure(label, result.requests_per_s, unit=" req/s", note=f"({shown})"))
            out.append(
                Figure(
                    f"feeds ÷ nginx, {kind}s",
                    None,
                    unit="× nginx",
                    missing="(nginx not installed)",
                    at_least=TARGETS[kind],
                )
            )
            continue
        nginx_result = theirs[kind]
        out.append(
            Figure(
                label,
                result.requests_per_s / nginx_result.requests_per_s,
                unit="× nginx",
                spec=".2f",
                note=f"(feeds {result.requests_per_s:,.0f} req/s, {shown}; nginx "
                f"{nginx_result.requests_per_s:,.0f} req/s, p99 {nginx_result.p99_ms:.1f} ms, "
                f"wrk CPU {nginx_result.cpu_share:.0%})",
                at_least=TARGETS[kind],
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
