"""A test-only artifact kind whose builds fail or take time on request: `fault:<name>`.

Loaded by the real workers through NEWSWIRE_EXTRA_KINDS. Each target's plan is a Redis hash
(`test:fault:<target>`: `fail` the number of first renders that raise, `error` "transient"
for a Redis ConnectionError or anything else for a fault in the code, `sleep` seconds each
render takes); each render counts itself there (`renders`) and notes its worker's pid.
"""

from __future__ import annotations

import os
import re
import time

import redis

from services.render.pipeline.rendering import Output, RenderContext, Renderer
from shared.article import Article
from shared.kinds.base import URGENT, Kind
from shared.kinds.entries import TargetEntry
from shared.store.artifacts import encode

_NAME = re.compile(r"fault:[a-z0-9-]{1,64}")


def plan_key(target: str) -> str:
    return f"test:fault:{target}"


class FaultKind(Kind):
    name = "fault"
    queue = "faults"
    renderer = f"{__name__}:FaultRenderer"

    def validate(self, target: str) -> None:
        if not _NAME.fullmatch(target):
            raise ValueError(f"unknown target {target!r}")

    def entries(self, article: Article) -> list[TargetEntry]:
        return []  # built on request only (rebuild events)

    def paths(self, target: str) -> list[str]:
        return [f"faults/{target.removeprefix('fault:')}.txt"]

    def priority(self, target: str) -> int:
        return URGENT


class FaultRenderer(Renderer):
    def render(self, target: str, ctx: RenderContext) -> Output:
        key = plan_key(target)
        renders = ctx.redis.hincrby(key, "renders", 1)
        ctx.redis.hset(key, "pid", os.getpid())
        plan = {k.decode(): v.decode() for k, v in ctx.redis.hgetall(key).items()}
        time.sleep(float(plan.get("sleep", 0)))
        if renders <= int(plan.get("fail", 0)):
            error = redis.ConnectionError if plan.get("error") == "transient" else RuntimeError
            raise error(f"planned failure {renders} of {target}")
        body = f"{target} built\n".encode()
        return Output(artifacts=[encode(self.kind.paths(target)[0], body, 5)])
