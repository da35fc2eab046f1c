"""HTTP semantics of serving one artifact: encoding choice, validators and 304s."""

from __future__ import annotations

from email.utils import formatdate, parsedate_to_datetime

from starlette.datastructures import Headers
from starlette.responses import Response

from shared.artifacts import Artifact

_ENCODINGS = ("br", "gzip")  # also the Artifact attribute names


def choose_encoding(accept_encoding: str, artifact: Artifact) -> str | None:
    """The best precompressed variant the client accepts: brotli, then gzip, else None."""
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
    for coding in _ENCODINGS:
        if getattr(artifact, coding) is not None and accepted.get(coding, accepted.get("*", 0)) > 0:
            return coding
    return None


def artifact_response(artifact: Artifact, headers: Headers, head: bool, max_age: int) -> Response:
    """A 200 or 304 for `artifact`, as the request's headers ask."""
    coding = choose_encoding(headers.get("accept-encoding", ""), artifact)
    body: bytes = getattr(artifact, coding) if coding else artifact.body
    # A strong ETag names exact bytes, so each content-coding gets its own.
    etag = artifact.etag if coding is None else f'{artifact.etag[:-1]}-{coding}"'
    out = {
        "etag": etag,
        "last-modified": formatdate(artifact.modified, usegmt=True),
        "cache-control": f"public, max-age={max_age}",
        "vary": "Accept-Encoding",
    }
    if coding:
        out["content-encoding"] = coding
    if _not_modified(artifact, headers):
        return Response(status_code=304, headers=out)
    out["content-length"] = str(len(body))
    return Response(b"" if head else body, headers=out, media_type=artifact.content_type)


def _not_modified(artifact: Artifact, headers: Headers) -> bool:
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        base = artifact.etag[1:-1]
        for tag in if_none_match.split(","):
            tag = tag.strip().removeprefix("W/")
            if tag == "*" or tag.strip('"').split("-")[0] == base:
                return True
        return False
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError):
            return False
        return int(artifact.modified) <= since
    return False
