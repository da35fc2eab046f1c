"""`newswire import --format newsml-g2` and `newswire watch`, run as operators run them: real
processes on a real Valkey, agency files on disk."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli.watch import Spool
from tests.cli.conftest import environment
from tests.conftest import wait_until

pytestmark = pytest.mark.processes

G2 = Path(__file__).parents[1] / "data" / "newsml-g2"
TT_ID = "tt.se-media-text-210919-janguillou-879f202b"
IPTC_ID = "urn:newsml:acmenews.com:20161121:US-FINANCE-FED"
# Quick looks and a short settle time, so that the test waits little for each file.
WATCH_OPTIONS = ("--publisher", "newsroom", "--settle", "0.3", "--interval", "0.05")
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
    b'"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><newsItem>&lol2;</newsItem>'
)


def bad_date(document: bytes) -> bytes:
    return document.replace(
        b"<contentCreated>2016-11-21T15:21:06-05:00", b"<contentCreated>21/11/2016"
    )


def test_import_loads_a_drop_and_names_each_bad_file(newswire, tmp_path, db):
    drop = tmp_path / "drop"
    (drop / "2021-09-19").mkdir(parents=True)
    shutil.copy(G2 / "tt-newsmessage.xml", drop / "2021-09-19" / "tt.xml")
    shutil.copy(G2 / "iptc-LISTING_2_NewsML-G2_Text_Document.xml", drop / "iptc.xml")
    (drop / "lol.xml").write_bytes(BILLION_LAUGHS)
    (drop / ".hidden.xml").write_bytes(b"not read")
    result = newswire("import", "--format", "newsml-g2", str(drop), "--publisher", "newsroom")
    assert result.returncode == 1, result.stderr
    assert "lol.xml: a DOCTYPE is not accepted" in result.stderr
    assert "fix the files named above" in result.stderr
    assert "import: 100%" in result.stderr  # the progress bar, over files
    assert "imported 2 of 3 files: 2 created; 1 files failed" in result.stdout
    for article_id in (TT_ID, IPTC_ID):
        assert db.hget(f"nw:article:{article_id}", "publisher") == "newsroom"
    assert len(db.keys("nw:article:*")) == 2  # the hostile file stored nothing


def test_importing_a_file_again_changes_nothing(newswire_in_process, db):
    path = str(G2 / "tt-newsmessage.xml")
    args = ("import", "--format", "newsml-g2", path, "--publisher", "newsroom")
    assert newswire_in_process(*args).returncode == 0
    again = newswire_in_process(*args)
    assert again.returncode == 0, again.stderr
    assert "1 unchanged" in again.stdout
    assert json.loads(db.hget(f"nw:article:{TT_ID}", "doc"))["section"] == "Litteratur"


def test_a_file_is_complete_once_unchanged_for_the_settle_time(tmp_path):
    spool = Spool(tmp_path, settle_s=2.0)
    growing = tmp_path / "a.xml"
    growing.write_bytes(b"<newsItem")
    (tmp_path / "b.xml.part").write_bytes(b"<newsItem/>")  # still being uploaded
    assert spool.complete(now=0.0) == []
    growing.write_bytes(b"<newsItem/>")  # more arrived
    assert spool.complete(now=1.5) == []
    assert spool.complete(now=3.0) == []  # unchanged for 1.5 s only
    assert spool.complete(now=3.5) == [growing]


def test_watch_imports_arrivals_moves_them_aside_and_stops_on_ctrl_c(
    settings, elsewhere, tmp_path, db
):
    spool = tmp_path / "spool"
    spool.mkdir()
    out, err = tmp_path / "watch.out", tmp_path / "watch.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "watch", str(spool), *WATCH_OPTIONS],
            cwd=elsewhere,
            env=environment(settings, {}),
            stdout=stdout,
            stderr=stderr,
        )
    try:
        wait_until(lambda: "Ctrl-C stops" in err.read_text(), 60)
        # An FTP upload under a temporary name, renamed once complete.
        upload = spool / "tt.xml.part"
        upload.write_bytes((G2 / "tt-newsmessage.xml").read_bytes())
        upload.rename(spool / "tt.xml")
        iptc = (G2 / "iptc-LISTING_2_NewsML-G2_Text_Document.xml").read_bytes()
        (spool / "dated.xml").write_bytes(bad_date(iptc))
        wait_until(lambda: (spool / "done" / "tt.xml").exists(), 60)
        wait_until(lambda: (spool / "failed" / "dated.xml.reason.txt").exists(), 60)
        assert "items.0.contentCreated" in (spool / "failed" / "dated.xml.reason.txt").read_text()
        assert sorted(p.name for p in spool.iterdir()) == ["done", "failed"]
        assert db.hget(f"nw:article:{TT_ID}", "publisher") == "newsroom"
        assert not db.exists(f"nw:article:{IPTC_ID}")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "imported tt.xml: 1 created" in out.read_text()
    assert "failed dated.xml: items.0.contentCreated" in err.read_text()
    assert "newswire watch: stopped" in err.read_text()


def test_import_refuses_what_the_api_would_and_names_what_to_fix(newswire_in_process, tmp_path):
    path = str(G2 / "tt-newsmessage.xml")
    big = newswire_in_process(
        "import",
        "--format",
        "newsml-g2",
        path,
        "--publisher",
        "newsroom",
        NEWSWIRE_MAX_REQUEST_BYTES="4096",
    )
    assert big.returncode == 1
    assert "over NEWSWIRE_MAX_REQUEST_BYTES (4096): ask the agency to split it" in big.stderr
    missing = newswire_in_process(
        "import", "--format", "newsml-g2", str(tmp_path / "nope"), "--publisher", "newsroom"
    )
    assert missing.returncode == 2
    assert "no such file or folder" in missing.stderr
