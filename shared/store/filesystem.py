"""Filesystem artifact store: atomic replaces, a per-target lock, and an in-memory cache."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import brotli

from shared.process_names import ProcessNames
from shared.state.events import event_id_key
from shared.store import DEFAULT_CACHE_BYTES, ArtifactStore, Listed, replace_file
from shared.store.artifacts import Artifact, safe_path
from shared.store.memory_cache import ArtifactCache

_VARIANTS = (("gzip", ".gz"), ("br", ".br"))
_VARIANT_SUFFIXES = tuple(suffix for _, suffix in _VARIANTS)
# Bookkeeping lives beside the artifacts, in a top-level name `safe_path` never serves.
_STATE = ".state"
# Linux's limits on one file name and on a path (bytes); no artifact path comes near them.
_NAME_MAX = 255
_PATH_MAX = 4096 - 256  # room for the root folder in front
# What lookups of a name that is not a served file fail with: missing, a file where a folder
# was expected, a symlink refused by O_NOFOLLOW (ELOOP), or a name too long to exist.
_NOT_THERE = {errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG, errno.EISDIR}
# Temporary files are named by process, not by pid: pids repeat across containers that share
# the volume, and across restarts.
_TEMP_NAMES = ProcessNames(6)


class FilesystemStore(ArtifactStore):
    """Files laid out like the URLs (`feeds/sections/dunya.rss`, plus `.gz` and `.br`).

    Every file is written to a temporary name and renamed into place, so a reader sees the
    old or the new file, never a partial one. Compressed variants are renamed before the
    plain file; a reader that catches them out of step serves the plain file alone.
    Watermarks (each its target's lock too) and gone-markers are kept under `.state/`, named
    by target with percent-encoding so that distinct targets never share a file.
    """

    def __init__(
        self, root: Path, cache_bytes: int = DEFAULT_CACHE_BYTES, recheck_ms: int = 0
    ) -> None:
        # Nothing is created until the first write: the feeds service may have the folder
        # mounted read-only.
        self._root = Path(root)
        self._state = self._root / _STATE
        # Keyed by path, tagged with the file's stat signature and when it was last taken.
        # A cached artifact checked within `recheck_ms` is served without asking the disk
        # (the feeds service: no system call per request, at most that stale); with 0 a
        # file written by another process shows at once. This process's own writes always do.
        self._cache: ArtifactCache[_Checked] = ArtifactCache(cache_bytes)
        self._recheck_s = recheck_ms / 1000
        self._folders_made = False

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
                self._cache.pop(path)
                if gone:
                    self._atomic_write(self._state / "gone" / path, b"")
            return newer

    def get(self, path: str) -> Artifact | None:
        cached = self._cache.get(path)  # only what passed the checks below is cached
        now = time.monotonic()
        if cached and now - cached[0].at < self._recheck_s:
            return cached[1]
        # Variant files belong to their artifact; alone they would be served as octet-streams.
        if safe_path(path) is None or path.endswith(_VARIANT_SUFFIXES) or not _fits(path):
            return None
        st = _regular_file(self._root, path)
        if st is None:
            self._cache.pop(path)
            return None
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        if cached and cached[0].signature == signature:
            cached[0].at = now
            return cached[1]
        loaded = self._load(path)
        if loaded is None:
            return None
        signature, artifact = loaded
        self._cache.put(path, _Checked(signature, now), artifact)
        return artifact

    def gone(self, path: str) -> bool:
        return (
            safe_path(path) is not None
            and _fits(path)
            and _regular_file(self._state / "gone", path) is not None
        )

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
                    st = os.lstat(file)
                    if stat.S_ISREG(st.st_mode):  # get() serves no symlink: list none
                        found.append(Listed(path, st.st_mtime))
        return sorted(found)

    def _write_artifact(self, artifact: Artifact) -> None:
        file = self._root / _checked(artifact.path)
        try:
            # A size apart is a change, known without reading the file (most rebuilds).
            unchanged = os.stat(file).st_size == len(artifact.body) and (
                file.read_bytes() == artifact.body
            )
        except FileNotFoundError:
            unchanged = False
        # Same bytes: the file is kept, and so its mtime and Last-Modified stay stable.
        if not unchanged:
            for attr, suffix in _VARIANTS:
                data = getattr(artifact, attr)
                variant = file.with_name(file.name + suffix)
                if data is None:
                    variant.unlink(missing_ok=True)
                else:
                    self._atomic_write(variant, data)
            self._atomic_write(file, artifact.body)
        # What this process had read, it reads next as written, without loading it back.
        if self._cache.get(artifact.path) is not None:
            st = os.lstat(file)
            checked = _Checked((st.st_mtime_ns, st.st_size, st.st_ino), time.monotonic())
            self._cache.put(artifact.path, checked, replace(artifact, modified=st.st_mtime))

    def _load(self, path: str) -> tuple[tuple[int, int, int], Artifact] | None:
        """The artifact and the stat signature of the very file read, opened without
        following a symlink anywhere below the root."""
        folder, _, name = path.rpartition("/")
        try:
            dir_fd = _open_folder(self._root, folder)
        except OSError as exc:
            return _missing(exc)
        try:
            try:
                body, st = _read_at(dir_fd, name)
            except OSError as exc:
                return _missing(exc)
            variants = {}
            for (attr, suffix), matches in zip(_VARIANTS, (_gzip_of, _brotli_of), strict=True):
                try:
                    data, _ = _read_at(dir_fd, name + suffix)
                except OSError:
                    continue
                # A variant from another build (caught mid-publish) is not served.
                if matches(data, body):
                    variants[attr] = data
        finally:
            os.close(dir_fd)
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        return signature, Artifact(path, body, modified=st.st_mtime, **variants)

    @contextmanager
    def _newer_than_stored(self, target: str, watermark: str) -> Iterator[bool]:
        """Hold the target's lock; yield whether `watermark` is not older than the stored
        one, and store it when the block completes.

        The watermark's file is the lock, and is written in place: only holders of the lock
        read it, and a new file per build (created, renamed, the old one unlinked) cost more
        than the rest of publishing an unchanged feed. A crash mid-write can leave it torn;
        one that does not read as an event id counts as none, so the next build publishes.
        """
        path = f"{self._state}/watermarks/{quote(target, safe='')}"
        fd = self._open_state(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released with the last close
            stored = _event_id(os.pread(fd, 64, 0))
            newer = stored is None or event_id_key(watermark) >= stored
            yield newer
            if newer:
                data = watermark.encode()
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
        finally:
            os.close(fd)

    def _open_state(self, path: str, flags: int) -> int:
        """Open a file under `.state/`, making its folders first if they are missing (the
        first write, or an operator cleared them)."""
        if not self._folders_made:
            self._make_folders()
        try:
            return os.open(path, flags, 0o644)
        except FileNotFoundError:
            self._make_folders()
            return os.open(path, flags, 0o644)

    def _make_folders(self) -> None:
        for folder in ("watermarks", "tmp"):
            (self._state / folder).mkdir(parents=True, exist_ok=True)
        self._folders_made = True

    def _atomic_write(self, file: Path, data: bytes) -> None:
        # No fsync: readers need atomicity, not durability; a lost artifact is rebuilt from
        # Redis. Temporary files live under .state/tmp (same filesystem), never in a folder
        # that is served. Their names are this process's own, and folders are made only when
        # the rename finds none: a build writes a dozen files, and `tempfile`'s name draws
        # and checks showed in its profile. Files are world-readable (0644), so a web server
        # running as another user (nginx) can serve the folder.
        tmp = f"{self._state}/tmp/{_TEMP_NAMES.tag}.{_TEMP_NAMES.next()}"
        fd = self._open_state(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            try:
                replace_file.replace(tmp, str(file))
            except FileNotFoundError:
                file.parent.mkdir(parents=True, exist_ok=True)
                replace_file.replace(tmp, str(file))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def _gzip_of(data: bytes, body: bytes) -> bool:
    """Whether `data` is a gzip of `body`, by its trailer: the CRC-32 and the length of what
    it holds. A variant from another build differs there; decompressing it to compare cost
    nine times as much (265 against 30 µs for a 150 KB feed), on every load of a changed
    file by the feeds service and by each WebSub delivery."""
    return (
        len(data) >= 18
        and data[:2] == b"\x1f\x8b"
        and int.from_bytes(data[-8:-4], "little") == zlib.crc32(body)
        and int.from_bytes(data[-4:], "little") == len(body) & 0xFFFFFFFF
    )


def _brotli_of(data: bytes, body: bytes) -> bool:
    """Whether `data` is a brotli of `body` (the format keeps no checksum to compare)."""
    try:
        return brotli.decompress(data) == body
    except brotli.error:
        return False


def _event_id(data: bytes) -> tuple[int, int] | None:
    """The sort key of the event id stored in `data`, or None if it holds none."""
    try:
        return event_id_key(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None


@dataclass(slots=True)
class _Checked:
    """What a cached file was on the disk (its stat signature), and when that was seen."""

    signature: tuple[int, int, int]
    at: float  # time.monotonic()


def _fits(path: str) -> bool:
    """Whether the file system could hold `path` at all: a longer name is no artifact, and
    asking the kernel about it fails with ENAMETOOLONG instead of "not found"."""
    encoded = path.encode("utf-8", "surrogatepass")
    return len(encoded) <= _PATH_MAX and all(len(p) <= _NAME_MAX for p in encoded.split(b"/"))


def _regular_file(base: Path, path: str) -> os.stat_result | None:
    """The stat of `base/path` if it is a regular file reached through real folders only.

    Each name is looked at with lstat, so a symlink anywhere below `base` (to a file or a
    folder, inside the tree or out of it) is not followed: the store writes no symlinks,
    and one found here was put there by something else.
    """
    here = str(base)
    parts = path.split("/")
    try:
        for part in parts[:-1]:
            here += "/" + part
            if not stat.S_ISDIR(os.lstat(here).st_mode):
                return None
        st = os.lstat(here + "/" + parts[-1])
    except OSError as exc:
        return _missing(exc)
    return st if stat.S_ISREG(st.st_mode) else None


def _open_folder(root: Path, folder: str) -> int:
    """A descriptor of `root/folder`, each name below `root` opened without following a
    symlink, so a folder swapped for one after `_regular_file` looked is refused too."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in folder.split("/") if folder else ():
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_at(dir_fd: int, name: str) -> tuple[bytes, os.stat_result]:
    """The bytes and stat of regular file `name` in folder `dir_fd`, never via a symlink."""
    # O_NONBLOCK: a FIFO swapped in after the lstat must not hang the request.
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileNotFoundError(errno.ENOENT, "not a regular file", name)
        return handle.read(), st


def _missing(exc: OSError) -> None:
    """None for the errors that mean "no such artifact"; anything else is a real failure
    (a disk error must not read as 404) and propagates."""
    if exc.errno in _NOT_THERE:
        return None
    raise exc


def _checked(path: str) -> str:
    if safe_path(path) is None:
        raise ValueError(f"unsafe artifact path {path!r}")
    return path
