"""Artifacts: the bytes a build publishes, their content types and precompressed variants."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import brotli
import deflate

CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
    "xml": "application/xml; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "jpg": "image/jpeg",
    # Images newsroom systems push (served under /media/).
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
}
# Already-compressed formats gain nothing from gzip or brotli.
_INCOMPRESSIBLE = {"jpg", "png", "webp", "gif"}


@dataclass(frozen=True)
class Artifact:
    """One published file with everything needed to serve it."""

    path: str
    body: bytes
    gzip: bytes | None = None
    br: bytes | None = None
    modified: float = 0.0  # seconds since the epoch

    @cached_property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'

    @property
    def content_type(self) -> str:
        return content_type(self.path)


def content_type(path: str) -> str:
    return CONTENT_TYPES.get(path.rpartition(".")[2], "application/octet-stream")


def encode(path: str, body: bytes, brotli_quality: int = 0, gzip: bytes | None = None) -> Artifact:
    """Build an artifact with its gzip variant, and a brotli one unless `brotli_quality`
    is 0, compressed once, here.

    Args:
        gzip: the gzip of `body` when the caller already has it (a feed reuses the
            compressed entries of its previous build), instead of compressing it here.
    """
    if path.rpartition(".")[2] in _INCOMPRESSIBLE:
        return Artifact(path, bytes(body))
    body = bytes(body)  # the plain bytes, whatever subclass carried them here
    return Artifact(
        path,
        body,
        # libdeflate: level 6 in half zlib's time, and a little smaller. A build compresses
        # three feed formats, so this was a third of a warm feed build's time.
        gzip=gzip if gzip is not None else deflate.gzip_compress(body, 6),
        br=brotli.compress(body, quality=brotli_quality) if brotli_quality else None,
    )


def safe_path(path: str) -> str | None:
    """`path` if it names an artifact inside the store, else None.

    Refused: traversal and empty segments, backslashes, NUL, and a first segment starting
    with "." (where stores keep their bookkeeping). Deeper names may start with "." because
    article ids may: `cards/.abc.jpg` is the card of article ".abc".
    """
    if not path or "\\" in path or "\x00" in path:
        return None
    parts = path.split("/")
    if parts[0].startswith(".") or any(part in ("", ".", "..") for part in parts):
        return None
    return path
