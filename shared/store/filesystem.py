"""Filesystem artifact store: atomic replaces, a per-target lock, and an in-memory cache."""

from __future__ import annotations

import fcntl
import gzip
import os
import stat
import tempfile
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import brotli

from shared.artifacts import Artifact, safe_path
from shared.events import event_id_key
from shared.store import ArtifactStore

_VARIANTS = (("gzip", ".gz"), ("br", ".br"))
_VARIANT_SUFFIXES = tuple(suffix for _, suffix in _VARIANTS)


class FilesystemStore(ArtifactStore):
    """Files laid out like the URLs (`feeds/sections/dunya.rss`, plus `.gz` and `.br`).

    Every file is written to a temporary name and renamed into place, so a reader sees the
    old or the new file, never a partial one. Compressed variants are renamed before the
    plain file; a reader that catches them out of step serves the plain file alone.
    """

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._root.mkdir(parents=True, exist_ok=True)
        self._cache: dict[str, tuple[tuple[int, int, int], Artifact]] = {}
        self._lock = threading.Lock()

    def publish(self, target: str, artifacts: Sequence[Artifact], watermark: str) -> bool:
        with self._target_lock(target):
            mark_file = self._root / ".watermarks" / target.replace(":", "_")
            stored = mark_file.read_text() if mark_file.exists() else ""
            if stored and event_id_key(watermark) < event_id_key(stored):
                return False
            for artifact in artifacts:
                self._write_artifact(artifact)
            _atomic_write(mark_file, watermark.encode())
            return True

    def get(self, path: str) -> Artifact | None:
        path = safe_path(path)  # type: ignore[assignment]
        # Variant files belong to their artifact; alone they would be served as octet-streams.
        if path is None or path.endswith(_VARIANT_SUFFIXES):
            return None
        file = self._root / path
        try:
            st = os.stat(file)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None  # a directory such as "feeds"
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = self._cache.get(path)
        if cached and cached[0] == signature:
            return cached[1]
        artifact = self._load(path, file, st.st_mtime)
        if artifact is not None:
            with self._lock:
                self._cache[path] = (signature, artifact)
        return artifact

    def paths(self, prefix: str) -> list[str]:
        base = self._root / prefix
        if not base.is_dir():
            return []
        found = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if not name.startswith(".") and not name.endswith((".gz", ".br")):
                    found.append(Path(dirpath, name).relative_to(self._root).as_posix())
        return sorted(found)

    def _write_artifact(self, artifact: Artifact) -> None:
        file = self._root / artifact.path
        try:
            if file.read_bytes() == artifact.body:
                return  # same bytes: keep the mtime, and so Last-Modified, stable
        except FileNotFoundError:
            pass
        for attr, suffix in _VARIANTS:
            data = getattr(artifact, attr)
            variant = file.with_name(file.name + suffix)
            if data is None:
                variant.unlink(missing_ok=True)
            else:
                _atomic_write(variant, data)
        _atomic_write(file, artifact.body)

    def _load(self, path: str, file: Path, modified: float) -> Artifact | None:
        try:
            body = file.read_bytes()
        except FileNotFoundError:
            return None
        variants = {}
        for (attr, suffix), decompress in zip(
            _VARIANTS, (gzip.decompress, brotli.decompress), strict=True
        ):
            try:
                data = file.with_name(file.name + suffix).read_bytes()
                # A variant from another build (caught mid-publish) is not served.
                if decompress(data) == body:
                    variants[attr] = data
            except (FileNotFoundError, OSError, brotli.error):
                continue
        return Artifact(path, body, modified=modified, **variants)

    @contextmanager
    def _target_lock(self, target: str):  # type: ignore[no-untyped-def]
        lock_file = self._root / ".locks" / target.replace(":", "_")
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_file, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _atomic_write(file: Path, data: bytes) -> None:
    # No fsync: readers need atomicity, not durability; a lost artifact is rebuilt from Redis.
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=file.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, file)
    except BaseException:
        os.unlink(tmp)
        raise
