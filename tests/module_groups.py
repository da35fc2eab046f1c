"""How `make test` spreads the suite over xdist workers: each module whole on one worker, so a
stack it shares starts once, and the modules that share one session stack together.

(xdist's own `loadgroup` reads groups off item markers by renaming the items, which the
pytest this suite pins no longer allows; the controller sees only node ids, so the groups
are listed here, by module path.)
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

# Group → the modules on the stack of that name (fixtures in tests/conftest.py and
# tests/guarantees/conftest.py).
SHARED_STACKS: dict[str, tuple[str, ...]] = {
    "site_stack": (
        "tests/test_end_to_end.py",
        "tests/test_sitemaps_end_to_end.py",
        "tests/test_cards_end_to_end.py",
        "tests/test_browser.py",
        "tests/render/test_kinds.py",
    ),
    "publishers_stack": (
        "tests/publishers/test_websub_limits.py",
        "tests/publishers/test_names_and_authors.py",
        "tests/publishers/test_no_leaks.py",
        "tests/publishers/test_superdesk_push.py",
    ),
    "guarantee_stack": (
        "tests/guarantees/test_ordering.py",
        "tests/guarantees/test_idempotency.py",
        "tests/guarantees/test_takedown.py",
    ),
}
GROUP_OF = {module: group for group, modules in SHARED_STACKS.items() for module in modules}


def group_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its module's group, or its module."""
    module = nodeid.split("::", 1)[0]
    return GROUP_OF.get(module, module)


class ModuleGroupScheduling(LoadScopeScheduling):
    """xdist's per-module scheduling, with the modules of a shared stack as one unit."""

    def _split_scope(self, nodeid: str) -> str:
        return group_of(nodeid)
