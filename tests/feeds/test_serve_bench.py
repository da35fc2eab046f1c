"""bench.serve judges every kind of request against its target, by the exact ratio, and
misses them all when there is no nginx to compare with."""

from __future__ import annotations

import pytest

from bench.serve import TARGETS, WrkResult, figures


def result(rate: float) -> WrkResult:
    return WrkResult(requests_per_s=rate, p99_ms=1.0, non_2xx_3xx=0, cpu_share=0.1)


def test_each_ratio_is_printed_beside_its_target() -> None:
    assert TARGETS == {"200": 0.5, "304": 0.35, "gzip": 0.35}
    nginx = {kind: result(10_000) for kind in TARGETS}
    # Just under, at, and just over each target.
    ours = {"200": result(4_999), "304": result(3_500), "gzip": result(3_501)}
    judged = figures(ours, nginx)
    assert [f.target for f in judged] == ["≥ 0.5× nginx", "≥ 0.35× nginx", "≥ 0.35× nginx"]
    assert [f.verdict for f in judged] == ["MISSED", "met", "met"]
    assert judged[0].text.startswith("0.50× nginx")  # shown rounded, judged exact


@pytest.mark.parametrize("kind", list(TARGETS))
def test_without_nginx_every_target_is_missed(kind: str) -> None:
    judged = [f for f in figures({k: result(1_000) for k in TARGETS}, {}) if f.target]
    assert len(judged) == 3
    missed = next(f for f in judged if f.name.endswith(f"{kind}s"))
    assert missed.verdict == "MISSED"
    assert missed.text == "(nginx not installed)"
