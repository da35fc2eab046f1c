"""The benchmarks stay runnable and judge their figures from exact numbers: every module
imports and parses its defaults, and a figure's verdict never follows its rounded display."""

from __future__ import annotations

import importlib
import math
import pkgutil

import pytest

import bench
from bench import feed_build
from bench.report import Figure, print_table

MODULES = sorted(m.name for m in pkgutil.iter_modules(bench.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_every_bench_module_imports_and_each_benchmark_parses_its_defaults(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    if hasattr(module, "run"):  # a benchmark, run alone through its own command line
        assert hasattr(module, "parser")
    if hasattr(module, "parser"):
        module.parser().parse_args([])


def test_feed_build_holds_its_warm_and_cold_ratios_to_the_target_by_the_exact_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    figures = feed_build.run(feed_build.parser().parse_args(["--items", "5", "--rounds", "3"]))
    judged = [f for f in figures if f.target]
    assert [f.name for f in judged] == [
        f"three-format build / bare lxml RSS ({label}, {clock})"
        for clock in ("wall", "CPU")
        for label in ("warm", "cold")
    ]
    for figure in judged:
        assert figure.target == "≤ 4×"
        assert figure.value is not None
        assert figure.met == (figure.value <= 4)
    assert "target ≤ 4×" in capsys.readouterr().out


@pytest.mark.parametrize(("ratio", "met"), [(4.04, False), (3.96, True), (4.0, True)])
def test_feed_build_ratio_is_judged_unrounded(ratio: float, met: bool) -> None:
    figure = feed_build.ratio_figure("warm", "wall", ratio)
    assert figure.text == "4.0×"
    assert figure.target == "≤ 4×"
    assert figure.met is met
    assert figure.verdict == ("met" if met else "MISSED")


@pytest.mark.parametrize(
    ("value", "text", "met"),
    [(1499.6, "1,500 articles/s", False), (1500.4, "1,500 articles/s", True)],
)
def test_an_at_least_target_is_judged_unrounded(value: float, text: str, met: bool) -> None:
    figure = Figure("single PUT", value, unit=" articles/s", at_least=1500)
    assert figure.text == text
    assert figure.target == "≥ 1,500 articles/s"
    assert figure.met is met


def test_a_strict_bound_misses_at_the_bound() -> None:
    at = Figure("growth", 0.10, spec="+.1%", below=0.10, target="< 10% growth")
    under = Figure("growth", 0.0999, spec="+.1%", below=0.10, target="< 10% growth")
    assert (at.text, at.met) == ("+10.0%", False)
    assert (under.text, under.met) == ("+10.0%", True)


def test_a_figure_without_a_target_just_prints() -> None:
    figure = Figure("pipelined load", 2575.4, unit=" articles/s", note="(pipelined)")
    assert figure.text == "2,575 articles/s (pipelined)"
    assert figure.target == ""
    assert figure.met is None
    assert figure.verdict == ""


def test_an_unmeasured_figure_misses_its_target() -> None:
    unmeasured = Figure("p99", None, unit=" ms", missing="never seen", at_most=500)
    assert (unmeasured.text, unmeasured.verdict) == ("never seen", "MISSED")
    assert Figure("p50", math.nan, unit=" ms", at_most=50).verdict == "MISSED"
    assert Figure("upsert", None, missing="(not sampled)").verdict == ""


def test_a_target_text_needs_a_bound() -> None:
    with pytest.raises(ValueError, match="no bound"):
        Figure("errors", 0, target="0")


def test_rows_print_the_target_and_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(
        [
            Figure("ratio", 4.04, unit="×", spec=".1f", at_most=4),
            Figure("single PUT", 1600, unit=" articles/s", at_least=1500),
            Figure("builds", 12),
        ]
    )
    header, _, missed, met, plain = capsys.readouterr().out.splitlines()
    assert header.split() == ["measure", "value", "target"]
    assert "4.0×" in missed
    assert "≤ 4×" in missed
    assert missed.split()[-1] == "MISSED"
    assert "≥ 1,500 articles/s" in met
    assert met.split()[-1] == "met"
    assert plain.split() == ["builds", "12"]
