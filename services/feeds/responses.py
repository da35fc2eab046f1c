"""HTTP semantics of serving one artifact: encoding choice, validators and 304s.

An artifact's answers (a 200 and a 304 per content-coding) are built once, the first time
it is served, and reused by every request until the artifact changes: a request for a hot
feed then costs a few header lookups, not a round of header formatting.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from typing import ClassVar

from shared.store.artifacts import Artifact

Headers = list[tuple[bytes, bytes]]
_ENCODINGS = ("br", "gzip")  # in order of preference; also the Artifact attribute names
# Distinct Accept-Encoding values are few (one per client family); the parsed form of each
# is remembered, up to this many, so a request does not parse its header again.
_ACCEPT_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete response: status, headers (shared, never mutated) and body."""

    status: int
    headers: Headers
    body: bytes = b""


def accepted_codings(accept_encoding: str) -> tuple[str, ...]:
    """The precompressed codings (brotli, gzip) the client accepts, best first."""
    accepted: dict[str, float] = {}
    for part in accept_encoding.split(","):
        name, *params = part.split(";")
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":  # parameter names are case-insensitive
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        accepted[name.strip().lower()] = q
    return tuple(c for c in _ENCODINGS if accepted.get(c, accepted.get("*", 0)) > 0)


class PreparedArtifact:
    """The answers for one artifact, headers prebuilt: a 200 and a 304 per content-coding."""

    _accepted: ClassVar[dict[bytes, tuple[str, ...]]] = {}

    # No reference to the artifact itself: what prepared it may need to outlive it.
    __slots__ = ("_base", "_modified", "_not_modified", "_ok", "_tags")

    def __init__(self, artifact: Artifact, max_age: int) -> None:
        self._base = artifact.etag[1:-1]
        self._modified = int(artifact.modified)
        self._ok: dict[str | None, Answer] = {}
        self._not_modified: dict[str | None, Answer] = {}
        content_type = artifact.content_type.encode()
        shared = [
            (b"last-modified", formatdate(artifact.modified, usegmt=True).encode()),
            (b"cache-control", f"public, max-age={max_age}".encode()),
            (b"vary", b"Accept-Encoding"),
        ]
        # A strong ETag names exact bytes, so each content-coding gets its own.
        self._tags: dict[str | None, bytes] = {}
        for coding in (None, *_ENCODINGS):
            body = artifact.body if coding is None else getattr(artifact, coding)
            if body is None:
                continue
            etag = artifact.etag if coding is None else f'{artifact.etag[:-1]}-{coding}"'
            self._tags[coding] = etag.encode()
            headers = [(b"etag", etag.encode()), *shared]
            if coding:
                headers.append((b"content-encoding", coding.encode()))
            self._not_modified[coding] = Answer(304, headers)
            self._ok[coding] = Answer(
                200,
                [
                    *headers,
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                ],
                body,
            )

    def answer(
        self,
        accept_encoding: bytes,
        if_none_match: bytes | None,
        if_modified_since: bytes | None,
        head: bool,
    ) -> Answer:
        """The 200 or 304 the request's headers ask for (a HEAD gets the 200's headers)."""
        coding = self._coding(accept_encoding)
        if self._not_modified_since(coding, if_none_match, if_modified_since):
            return self._not_modified[coding]
        ok = self._ok[coding]
        return Answer(200, ok.headers) if head else ok

    def _coding(self, accept_encoding: bytes) -> str | None:
        accepted = self._accepted.get(accept_encoding)
        if accepted is None:
            if len(self._accepted) >= _ACCEPT_CACHE_SIZE:
                self._accepted.clear()
            accepted = accepted_codings(accept_encoding.decode("latin-1"))
            self._accepted[accept_encoding] = accepted
        for coding in accepted:
            if coding in self._ok:
                return coding
        return None

    def _not_modified_since(
        self, coding: str | None, if_none_match: bytes | None, if_modified_since: bytes | None
    ) -> bool:
        if if_none_match is not None:
            if if_none_match == self._tags[coding]:  # what a client sends back: its own tag
                return True
            for tag in if_none_match.decode("latin-1").split(","):
                tag = tag.strip().removeprefix("W/")
                if tag == "*" or tag.strip('"').split("-")[0] == self._base:
                    return True
            return False
        if if_modified_since:
            try:
                since = parsedate_to_datetime(if_modified_since.decode("latin-1")).timestamp()
            except (TypeError, ValueError):
                return False
            return self._modified <= since
        return False
