"""Two publishers on one real stack: the site (`API_KEY`, publisher `newsroom`, named by
NEWSWIRE_SITE_PUBLISHER) and another (`OTHER_API_KEY`, publisher `other`). The modules here
share it (tests/module_groups.py runs them on one worker); each writes ids, sections, tags
and bylines of its own, so none reads what another wrote."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.stack import Stack
from tests.conftest import Databases, running_stack


@pytest.fixture(scope="session")
def publishers_stack(
    tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[Stack]:
    with running_stack(
        databases,
        tmp_path_factory.mktemp("publishers"),
        NEWSWIRE_CARD_RECENT_DAYS="0",
        # WebSub subscribers of the tests listen on 127.0.0.2.
        NEWSWIRE_FETCH_ALLOW_NETWORKS='["127.0.0.2/32"]',
    ) as stack:
        yield stack
