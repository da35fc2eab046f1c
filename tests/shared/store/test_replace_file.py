"""Atomic file replacement, as the filesystem store publishes artifacts."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from shared.store import replace_file


def test_replaces_an_existing_file_and_leaves_no_temporary_behind(tmp_path: Path) -> None:
    target, tmp = tmp_path / "all.rss", tmp_path / "tmp.1"
    target.write_bytes(b"old")
    with open(target, "rb") as reader:  # a reader mid-way keeps the file it opened
        tmp.write_bytes(b"new")
        replace_file.replace(str(tmp), str(target))
        assert reader.read() == b"old"
    assert target.read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["all.rss"]


def test_moves_a_file_to_a_new_name(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp.1"
    tmp.write_bytes(b"first")
    replace_file.replace(str(tmp), str(tmp_path / "fresh.rss"))
    assert (tmp_path / "fresh.rss").read_bytes() == b"first"
    assert not tmp.exists()


def test_a_missing_folder_is_reported_as_os_replace_reports_it(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp.1"
    tmp.write_bytes(b"x")
    with pytest.raises(FileNotFoundError):
        replace_file.replace(str(tmp), str(tmp_path / "no" / "such.rss"))
    assert tmp.exists()  # nothing was moved


def test_readers_see_one_whole_version_or_the_other(tmp_path: Path) -> None:
    target = tmp_path / "feed.json"
    versions = [bytes([65 + n]) * 200_000 for n in range(4)]
    target.write_bytes(versions[0])
    seen: set[bytes] = set()
    errors: list[OSError] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                seen.add(target.read_bytes())
            except OSError as exc:  # no file at the name, even for a moment
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(200):
            tmp = tmp_path / f"tmp.{n}"
            tmp.write_bytes(versions[n % 4])
            replace_file.replace(str(tmp), str(target))
    finally:
        stop.set()
        reader.join()
    assert errors == []
    assert seen <= set(versions) and len(seen) > 1
