"""The modules that share a session stack are scheduled as one unit, and the table says which."""

from __future__ import annotations

import re
from pathlib import Path

from tests.module_groups import SHARED_STACKS, group_of

ROOT = Path(__file__).resolve().parent.parent


def test_every_module_that_takes_a_shared_stack_is_in_its_group() -> None:
    for group, listed in SHARED_STACKS.items():
        uses = re.compile(rf"def \w+\([^)]*\b{group}\b", re.S)
        taking = {
            path.relative_to(ROOT).as_posix()
            for path in (ROOT / "tests").rglob("test_*.py")
            if uses.search(path.read_text())
        }
        assert taking == set(listed), group


def test_a_groups_modules_are_one_unit_and_others_are_their_own() -> None:
    [first, *others] = SHARED_STACKS["site_stack"]
    assert {group_of(f"{module}::test_x[1]") for module in others} == {group_of(f"{first}::t")}
    assert group_of("tests/test_api.py::test_a") == "tests/test_api.py"
    assert group_of("tests/test_api.py::TestX::test_a") == group_of("tests/test_api.py::test_b")
