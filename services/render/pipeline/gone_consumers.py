"""Removing gone dispatchers from the event stream's consumer group.

A consumer stays in its group until removed, so without this every dispatcher that ever ran
(a new name per process) would be listed for good. Gone means it has not tried to read for
the claim idle time (XINFO CONSUMERS' `idle`; not `inactive`, the time since it last read
entries, which a live dispatcher with nothing to read has too). One holding entries stays
until they are claimed: removing it would drop them from the pending list.
"""

from __future__ import annotations

from importlib.resources import files

import redis


class GoneConsumers:
    def __init__(self, client: redis.Redis) -> None:
        self._script = client.register_script(
            files("services.render.pipeline.lua").joinpath("prune_consumers.lua").read_text()
        )

    def remove(self, stream: str, group: str, idle_ms: int, keep: str) -> list[str]:
        """Remove the consumers of `group` that hold nothing and have not tried to read for
        `idle_ms` (never `keep`, the caller); returns their names."""
        removed = self._script(keys=[stream], args=[group, idle_ms, keep])
        return [name.decode() if isinstance(name, bytes) else name for name in removed]
