"""`newswire superdesk add | list | remove`, run through the command's `main` against a real
Redis: the three lines Superdesk's HTTP Push destination takes, and a destination that then
accepts a push signed with its token (and refuses one once removed)."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

from services.cli.__main__ import main
from services.ingest.app import create_app
from shared.settings import Settings
from tests.conftest import SITE_PUBLISHER, live_server
from tests.ingest.superdesk_sender import push_item, text_item


def newswire(
    monkeypatch: pytest.MonkeyPatch, cwd: Path, settings: Settings, ingest: str, *args: str
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with monkeypatch.context() as patch:
        patch.chdir(cwd)  # no var/newswire.env here
        for name in [k for k in os.environ if k.startswith("NEWSWIRE_")]:
            patch.delenv(name)
        patch.setenv("NEWSWIRE_REDIS_URL", settings.redis_url)
        patch.setenv("NEWSWIRE_INGEST_BASE_URL", ingest + "/")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def test_add_prints_what_superdesk_needs_and_the_destination_works(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with live_server(create_app(settings)) as ingest:
        status, out, err = newswire(
            monkeypatch, tmp_path, settings, ingest, "superdesk", "add", SITE_PUBLISHER
        )
        assert status == 0, err
        lines = dict(line.split(": ", 1) for line in out.splitlines())
        assert list(lines) == ["resource_url", "assets_url", "secret_token"]
        match = re.fullmatch(rf"{ingest}/v1/superdesk/([0-9a-f]+)/items", lines["resource_url"])
        assert match, lines
        destination = match.group(1)
        assert lines["assets_url"] == f"{ingest}/v1/superdesk/{destination}/assets"

        item = text_item("urn:newsml:localhost:5000:cli-1", "Komutla kuruldu")
        assert push_item(lines["resource_url"], lines["secret_token"], item).status_code == 201

        status, out, _ = newswire(monkeypatch, tmp_path, settings, ingest, "superdesk", "list")
        assert status == 0
        assert destination in out and SITE_PUBLISHER in out
        assert lines["secret_token"] not in out  # shown once, at add

        status, out, _ = newswire(
            monkeypatch, tmp_path, settings, ingest, "superdesk", "remove", destination
        )
        assert status == 0 and destination in out
        assert push_item(lines["resource_url"], lines["secret_token"], item).status_code == 403

        status, _, err = newswire(
            monkeypatch, tmp_path, settings, ingest, "superdesk", "remove", destination
        )
        assert status == 2 and "newswire superdesk list" in err
