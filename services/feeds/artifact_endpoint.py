"""GET and HEAD of a published artifact, as a plain ASGI app.

This is the path nearly every request takes, so it stays lean: the artifact comes from
memory (the store's cache), its answers were prepared when it was first served, and only a
miss leaves the event loop (a store read may wait on Redis or the disk).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable
from time import perf_counter

from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from services.feeds.responses import Answer, PreparedArtifact
from shared.log_format import bind_log_context, reset_log_context
from shared.store import ArtifactStore, StoreUnavailable
from shared.store.artifacts import Artifact
from shared.web.http_metrics import HttpMetrics
from shared.web.request_ids import REQUEST_ID, answer_escaped, request_id_for

# The template every path but the root is counted under (the service's catch-all route).
ANY_PATH = "/{path:path}"


def error_answer(
    status: int, code: str, message: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> Answer:
    """An answer in the ingest API's error shape, so clients parse one format from both."""
    error = {"status": status, "code": code, "message": message, "fields": []}
    body = json.dumps({"error": error}).encode()
    return Answer(
        status,
        [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
        body,
    )


NOT_FOUND = error_answer(404, "not_found", "no such file")
GONE = error_answer(410, "gone", "this was taken down")
UNAVAILABLE = error_answer(503, "unavailable", "try again shortly", [(b"retry-after", b"1")])


def _lookup(store: ArtifactStore, path: str) -> Answer | Artifact:
    """The artifact at `path`, else why not; may wait on the network."""
    try:
        found = store.get(path)
        if found is None:
            return GONE if store.gone(path) else NOT_FOUND
    except StoreUnavailable:
        return UNAVAILABLE
    return found


class ArtifactEndpoint:
    """Serves the store's artifacts, plus `fixed` ones the service makes itself.

    A read is handled whole here, the work the service's middleware does for its other
    routes too: the request id (on the response and on every line logged meanwhile), an
    escaped exception answered 500, and the request counted in `metrics` under its route
    template. One call and one pass over the headers, where a stack of middleware would each
    wrap `send` and scan the headers again.
    """

    def __init__(
        self,
        store: ArtifactStore,
        max_age: int,
        metrics: HttpMetrics,
        fixed: Iterable[Artifact] = (),
    ) -> None:
        self._store = store
        self._max_age = max_age
        self._metrics = metrics
        self._fixed = {artifact.path: artifact for artifact in fixed}
        # Prepared answers by the id of their artifact, and as long as it lives (the store's
        # cache decides that): cheaper to look up than by the artifact's own hash.
        self._prepared: dict[int, PreparedArtifact] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started_at = perf_counter()
        accept_encoding, if_none_match, if_modified_since, sent_id = b"", None, None, None
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                accept_encoding = value
            elif name == b"if-none-match":
                if_none_match = value
            elif name == b"if-modified-since":
                if_modified_since = value
            elif name == REQUEST_ID:
                sent_id = value
        request_id = request_id_for(sent_id)
        context = bind_log_context(request_id=request_id)
        status = 500  # unless a response starts: an exception that escapes is a 500
        started = False
        try:
            path = scope["path"][1:] or "index.html"
            found: Answer | Artifact | None = self._fixed.get(path) or self._store.cached(path)
            if found is None:
                found = await run_in_threadpool(_lookup, self._store, path)
            if isinstance(found, Answer):
                answer = found
            else:
                prepared = self._prepared.get(id(found)) or self._prepare(found)
                answer = prepared.answer(
                    accept_encoding, if_none_match, if_modified_since, scope["method"] == "HEAD"
                )
            status, started = answer.status, True
            headers = [*answer.headers, (REQUEST_ID, request_id.encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": answer.body})
        except Exception:
            await answer_escaped(scope, send, request_id, response_started=started)
        finally:
            reset_log_context(context)
            route = "/" if scope["path"] == "/" else ANY_PATH
            self._metrics.observe(route, scope["method"], status, perf_counter() - started_at)

    def _prepare(self, artifact: Artifact) -> PreparedArtifact:
        prepared = self._prepared[id(artifact)] = PreparedArtifact(artifact, self._max_age)
        weakref.finalize(artifact, self._prepared.pop, id(artifact), None)
        return prepared
