"""Running a build in the test process, as a worker would after an event."""

from __future__ import annotations

import itertools

from services.render.pipeline.builds import BuildContext, build_target

_sequence = itertools.count(1)


def build(ctx: BuildContext, target: str) -> str:
    """Owe the target one build, as an event would, and run it."""
    ctx.coordinator.mark([(target, f"{ctx.reader.now_ms()}-{next(_sequence)}")])
    return build_target(target, ctx)
