"""GET and HEAD of a published artifact, as a plain ASGI app.

This is the path nearly every request takes, so it stays lean: the artifact comes from
memory (the store's cache), its answers were prepared when it was first served, and only a
miss leaves the event loop (a store read may wait on Redis or the disk).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable

from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from services.feeds.responses import Answer, PreparedArtifact
from shared.store import ArtifactStore, StoreUnavailable
from shared.store.artifacts import Artifact


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
    """Serves the store's artifacts, plus `fixed` ones the service makes itself."""

    def __init__(self, store: ArtifactStore, max_age: int, fixed: Iterable[Artifact] = ()) -> None:
        self._store = store
        self._max_age = max_age
        self._fixed = {artifact.path: artifact for artifact in fixed}
        # Prepared answers by the id of their artifact, and as long as it lives (the store's
        # cache decides that): cheaper to look up than by the artifact's own hash.
        self._prepared: dict[int, PreparedArtifact] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"][1:] or "index.html"
        found: Answer | Artifact | None = self._fixed.get(path) or self._store.cached(path)
        if found is None:
            found = await run_in_threadpool(_lookup, self._store, path)
        answer = found if isinstance(found, Answer) else self._answer(found, scope)
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        )
        await send({"type": "http.response.body", "body": answer.body})

    def _answer(self, artifact: Artifact, scope: Scope) -> Answer:
        prepared = self._prepared.get(id(artifact))
        if prepared is None:
            prepared = self._prepared[id(artifact)] = PreparedArtifact(artifact, self._max_age)
            weakref.finalize(artifact, self._prepared.pop, id(artifact), None)
        accept_encoding, if_none_match, if_modified_since = b"", None, None
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                accept_encoding = value
            elif name == b"if-none-match":
                if_none_match = value
            elif name == b"if-modified-since":
                if_modified_since = value
        head = scope["method"] == "HEAD"
        return prepared.answer(accept_encoding, if_none_match, if_modified_since, head)
