"""The signature Superdesk puts on every body it POSTs: `sha1=` and the hex HMAC-SHA1 of the
raw body, keyed with the destination's secret token (UTF-8)."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "x-superdesk-signature"


def sign(secret: str, body: bytes) -> str:
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` signs `body`, compared in constant time."""
    if header is None:
        return False
    return hmac.compare_digest(header.strip().encode(), sign(secret, body).encode())
