"""Filesystem artifact store: atomic replaces, a per-target lock, and an in-memory cache."""

from __future__ import annotations

import fcntl
import gzip
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import brotli

from shared.artifacts import Artifact, safe_path
from shared.events import event_id_key
from shared.store import DEFAULT_CACHE_BYTES, ArtifactStore, Listed
from shared.store.memory_cache import ArtifactCache

_VARIANTS = (("gzip", ".gz"), ("br", ".br"))
_VARIANT_SUFFIXES = tuple(suffix for _, suffix in _VARIANTS)
# Bookkeeping lives beside the artifacts, in a top-level name `safe_path` never serves.
_STATE = ".state"


class FilesystemStore(ArtifactStore):
    """Files laid out like the URLs (`feeds/sections/dunya.rss`, plus `.gz` and `.br`).

    Every file is written to a temporary name and renamed into place, so a reader sees the
    old or the new file, never a partial one. Compressed variants are renamed before the
    plain file; a reader that catches them out of step serves the plain file alone.
    Watermarks, locks and gone-markers are kept under `.state/`, named by target with
    percent-encoding so that distinct targets never share a file.
    """

    def __init__(self, root: Path, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        # Nothing is created until the first write: the feeds service may have the folder
        # mounted read-only.
        self._root = Path(root)
        self._state = self._root / _STATE
        # Keyed by path, tagged with the file's stat signature: a new file shows at once.
        self._cache: ArtifactCache[tuple[int, int, int]] = ArtifactCache(cache_bytes)

    def publish(self, target: str, artifacts: Sequence[Artifact], watermark: str) -> bool:
        with self._newer_than_stored(target, watermark) as newer:
            if newer:
                for artifact in artifacts:
                    self._write_artifact(artifact)
                    (self._state / "gone" / artifact.path).unlink(missing_ok=True)
            return newer

    def delete(
        self, target: str, paths: Sequence[str], watermark: str, *, gone: bool = False
    ) -> bool:
        with self._newer_than_stored(target, watermark) as newer:
            for path in paths if newer else ():
                file = self._root / _checked(path)
                for suffix in _VARIANT_SUFFIXES:
                    file.with_name(file.name + suffix).unlink(missing_ok=True)
                file.unlink(missing_ok=True)
                if gone:
                    self._atomic_write(self._state / "gone" / path, b"")
            return newer

    def get(self, path: str) -> Artifact | None:
        path = safe_path(path)  # type: ignore[assignment]
        # Variant files belong to their artifact; alone they would be served as octet-streams.
        if path is None or path.endswith(_VARIANT_SUFFIXES):
            return None
        file = self._root / path
        try:
            st = os.stat(file)
        except (FileNotFoundError, NotADirectoryError):
            self._cache.pop(path)
            return None
        if not stat.S_ISREG(st.st_mode):
            return None  # a directory such as "feeds"
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = self._cache.get(path)
        if cached and cached[0] == signature:
            return cached[1]
        artifact = self._load(path, file, st.st_mtime)
        if artifact is not None:
            self._cache.put(path, signature, artifact)
        return artifact

    def gone(self, path: str) -> bool:
        return safe_path(path) is not None and (self._state / "gone" / path).is_file()

    def listing(self, prefix: str) -> list[Listed]:
        base = self._root / prefix
        if not base.is_dir():
            return []
        found = []
        for dirpath, dirnames, filenames in os.walk(base):
            if Path(dirpath) == self._root:
                dirnames[:] = [d for d in dirnames if d != _STATE]
            for name in filenames:
                file = Path(dirpath, name)
                path = file.relative_to(self._root).as_posix()
                if safe_path(path) and not name.endswith(_VARIANT_SUFFIXES):
                    found.append(Listed(path, file.stat().st_mtime))
        return sorted(found)

    def _write_artifact(self, artifact: Artifact) -> None:
        file = self._root / _checked(artifact.path)
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
                self._atomic_write(variant, data)
        self._atomic_write(file, artifact.body)

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
    def _newer_than_stored(self, target: str, watermark: str) -> Iterator[bool]:
        """Hold the target's lock; yield whether `watermark` is not older than the stored
        one, and store it when the block completes."""
        name = quote(target, safe="")
        for folder in ("watermarks", "locks", "tmp"):
            (self._state / folder).mkdir(parents=True, exist_ok=True)
        with open(self._state / "locks" / name, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                mark_file = self._state / "watermarks" / name
                stored = mark_file.read_text() if mark_file.exists() else ""
                newer = not stored or event_id_key(watermark) >= event_id_key(stored)
                yield newer
                if newer:
                    self._atomic_write(mark_file, watermark.encode())
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _atomic_write(self, file: Path, data: bytes) -> None:
        # No fsync: readers need atomicity, not durability; a lost artifact is rebuilt from
        # Redis. Temporary files live under .state/tmp (same filesystem), never in a folder
        # that is served.
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._state / "tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, file)
        except BaseException:
            os.unlink(tmp)
            raise


def _checked(path: str) -> str:
    if safe_path(path) is None:
        raise ValueError(f"unsafe artifact path {path!r}")
    return path
