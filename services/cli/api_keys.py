"""`newswire keys`: make a publisher's API key, and list the configured ones.

Keys are configured as SHA-256 digests (NEWSWIRE_API_KEYS), so the key itself is shown once,
here, and stored nowhere.
"""

from __future__ import annotations

import json
import secrets

from services.ingest.auth import key_digest
from shared.settings import Settings


def new_key(publisher: str, settings: Settings) -> str:
    """A new key for `publisher`, with the NEWSWIRE_API_KEYS value that adds it."""
    if not publisher.strip():
        raise ValueError("the publisher name must not be empty")
    token = secrets.token_urlsafe(32)
    keys = {**settings.api_keys, key_digest(token): publisher}
    return "\n".join(
        [
            f"API key for {publisher} (shown only now; give it to the newsroom system):",
            f"  {token}",
            "Set this on ingest (it keeps the keys already configured):",
            f"  NEWSWIRE_API_KEYS='{json.dumps(keys, ensure_ascii=False)}'",
        ]
    )


def list_keys(settings: Settings) -> str:
    if not settings.api_keys:
        return "no API keys configured: make one with `newswire keys new <publisher>`"
    rows = sorted((publisher, digest[:12]) for digest, publisher in settings.api_keys.items())
    return "\n".join(f"{publisher}  sha256:{digest}…" for publisher, digest in rows)
