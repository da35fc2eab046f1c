"""The benchmarks stay runnable: every module imports and parses its defaults, and the one
that needs no stack runs a few rounds and reports its figure beside its target."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench
from bench import feed_build
from bench.common import Figure, print_table

MODULES = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name != "common")


@pytest.mark.parametrize("name", MODULES)
def test_benchmark_imports_and_parses_its_defaults(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    if hasattr(module, "parser"):
        module.parser().parse_args([])


def test_feed_build_reports_its_ratio_beside_the_target(capsys: pytest.CaptureFixture) -> None:
    figures = feed_build.run(feed_build.parser().parse_args(["--items", "5", "--rounds", "3"]))
    ratios = [f for f in figures if f.target]
    assert [f.name for f in ratios] == [
        "three-format build / bare lxml RSS (warm, wall)",
        "three-format build / bare lxml RSS (warm, CPU)",
    ]
    for figure in ratios:
        assert figure.target == "≤ 4×"
        assert figure.met == (float(figure.value.rstrip("×")) <= 4)
    assert "target ≤ 4×" in capsys.readouterr().out


def test_a_missed_target_says_missed(capsys: pytest.CaptureFixture) -> None:
    print_table([Figure("single PUT", "900 articles/s", "≥ 1,500/s", False)])
    row = capsys.readouterr().out.splitlines()[-1]
    assert row.split()[-1] == "MISSED"
    assert "≥ 1,500/s" in row
