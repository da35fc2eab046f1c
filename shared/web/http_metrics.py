"""Prometheus metrics of an HTTP service: requests and latency by route template, and /metrics.

Requests are labelled with the route's template (`/v1/articles/{article_id}`), never the raw
path: every distinct path would otherwise become a time series of its own, and anyone could
make the service grow them without bound. A request no route matches counts as `<unmatched>`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "<unmatched>"
# From a served-from-memory feed (~0.1 ms) to a batch of a thousand articles (~1 s).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
# Clients may send any token as a method; the label keeps to these.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


class HttpMetrics:
    """The metrics of one HTTP service, in a registry of its own (so two apps in one process
    never share counts)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "newswire_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "newswire_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

        # The labelled children, found once per label set: `labels()` takes a lock and
        # builds keys, which showed in profiles of the feeds service's hottest path. Label
        # sets are bounded (templates × methods × statuses), so this is too.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        children = self._children.get((route, method, status))
        if children is None:
            label = method if method in METHODS else "other"
            children = (
                self.requests.labels(route, label, str(status)),
                self.latency.labels(route, label),
            )
            if method in METHODS:  # other tokens are any string: not remembered
                self._children[route, method, status] = children
        children[0].inc()
        children[1].observe(seconds)

    async def endpoint(self, _: Request) -> Response:
        """`GET /metrics` in the Prometheus text format."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def route_template(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    """The template of the route that handled (or would handle) this request."""
    route = scope.get("route")
    if route is None:  # answered before routing (a body over the limit, say)
        route = next((r for r in routes if r.matches(scope)[0] is Match.FULL), None)
    return getattr(route, "path", None) or UNMATCHED


class RequestMetrics:
    """ASGI middleware that counts and times every HTTP request of the app it wraps.

    Add it last (outermost), so requests other middleware answers are counted too.
    """

    def __init__(
        self, app: ASGIApp, metrics: HttpMetrics, routes: Callable[[], Sequence[BaseRoute]]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception that escapes is a 500

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        finally:
            route = route_template(scope, self.routes())
            self.metrics.observe(route, scope["method"], status, time.perf_counter() - started)
