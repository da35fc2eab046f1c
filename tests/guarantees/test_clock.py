"""One clock: workers whose clocks run an hour ahead still date what they publish by Redis's.

With the Redis artifact store (no shared disk), the time an artifact's bytes changed is what
the feeds service sends as Last-Modified and what the sitemap index lists as lastmod. The
dispatcher and every worker here run with their clocks an hour ahead
(tests/guarantees/clock_ahead.py); none of those dates may lie in the future.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from tests.conftest import wait_until
from tests.guarantees.conftest import article, redis_of, start_stack, wait_settled

pytestmark = pytest.mark.processes


def test_workers_with_a_clock_ahead_date_nothing_in_the_future(
    tmp_path: Path, redis_url: str
) -> None:
    stack = start_stack(tmp_path, redis_url, clock_ahead_s=3600, NEWSWIRE_STORE_BACKEND="redis")
    try:
        published = datetime.now(UTC) - timedelta(minutes=10)
        raw = article("saat-ileri", published, title="Saat ileri", tags=("NATO",))
        assert stack.put(raw).status_code == 201
        wait_until(lambda: stack.feed("sitemap.xml").ok, 10)
        wait_settled(redis_of(stack))
        seconds, _ = redis_of(stack).time()
        now = datetime.fromtimestamp(seconds + 1, UTC)
        served = ["feeds/all.rss", "feeds/sections/dunya.json", "sitemaps/news.xml"]
        served += ["sitemap.xml", "cards/saat-ileri.jpg", "cards/saat-ileri.html"]
        for path in served:
            response = stack.feed(path)
            assert response.status_code == 200, path
            assert parsedate_to_datetime(response.headers["last-modified"]) <= now, path
        index = stack.feed("sitemap.xml").text
        dates = [datetime.fromisoformat(d) for d in re.findall(r"<lastmod>([^<]+)<", index)]
        assert dates and all(d <= now for d in dates), (dates, now)
    finally:
        stack.stop()
