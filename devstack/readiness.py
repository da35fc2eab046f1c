"""When `make run`'s stack is up: every service answers, over HTTP.

Ingest and the feeds service answer on their own port: /readyz (readiness, Redis included)
where they have it, else /healthz. The dispatcher and the Celery workers have no HTTP server
but their metrics one (a worker serves it once it is ready to take tasks), so their metrics
port answering is how they say they are up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import requests

# A ready service answers in milliseconds; this only keeps a hung one from holding a check up.
REQUEST_TIMEOUT_S = 1.0


def local_url(host: str, port: int) -> str:
    """The URL to reach a server on this machine listening on `host`."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def answers(url: str) -> int | None:
    """The status `url` answers with, or None when it does not answer."""
    try:
        return requests.get(url, timeout=REQUEST_TIMEOUT_S).status_code
    except requests.RequestException:
        return None


def http_service_ready(base_url: str) -> bool:
    """/readyz answers 200, or, where there is no /readyz, /healthz does."""
    status = answers(base_url + "/readyz")
    if status == 404:
        status = answers(base_url + "/healthz")
    return status == 200


def metrics_ready(base_url: str) -> bool:
    return answers(base_url + "/metrics") == 200


@dataclass(frozen=True)
class Check:
    name: str
    where: str  # what the operator can try by hand
    ready: Callable[[], bool]


def http_checks(urls: Mapping[str, str]) -> list[Check]:
    return [Check(name, url, lambda u=url: http_service_ready(u)) for name, url in urls.items()]


def metrics_checks(urls: Mapping[str, str]) -> list[Check]:
    return [
        Check(name, f"{url}/metrics", lambda u=url: metrics_ready(u)) for name, url in urls.items()
    ]


def wait_ready(checks: list[Check], timeout: float, give_up: Callable[[], bool]) -> list[Check]:
    """Poll until every check passes (each passes once; a service that came up stays up as
    far as this is concerned), `timeout` passes or `give_up()` is true; returns those that
    never passed."""
    waiting = list(checks)
    deadline = time.monotonic() + timeout
    while waiting and not give_up():
        waiting = [check for check in waiting if not check.ready()]
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return waiting
