"""Replacing a file atomically, without ext4's flush on rename.

ext4 (mounted with its default `auto_da_alloc`) writes a file's data out at once when it is
renamed over another file, so that a crash cannot leave the new name empty. Artifacts need no
durability (a lost one is rebuilt from Redis), and that flush made each replace cost ~350 µs
of a feed build's time, where writing a new name costs ~120 µs. Exchanging the two names
(`renameat2` with RENAME_EXCHANGE, Linux 3.15+) is as atomic for readers (they find the old
file or the new one at the name, never neither) and skips the flush; the old file, now under
the temporary name, is unlinked after. Where the call is missing or refused (another kernel,
a file system without it, nothing yet at the name) this falls back to `os.replace`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _renameat2() -> ctypes._NamedFuncPointer | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a libc older than glibc 2.28 has no wrapper
        return None


_EXCHANGE = _renameat2()
# Refusals after which `os.replace` does the job: no such call, not on this file system.
_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.EPERM, errno.EXDEV}


def replace(source: str, destination: str) -> None:
    """Move `source` to `destination`, replacing any file there atomically; `source` is gone
    afterwards either way.

    Raises:
        OSError: as `os.replace` would (FileNotFoundError if `destination`'s folder is missing).
    """
    global _EXCHANGE
    if _EXCHANGE is not None:
        done = _EXCHANGE(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(destination),
                         _RENAME_EXCHANGE)  # fmt: skip
        if done == 0:
            os.unlink(source)  # the old file, swapped out
            return
        code = ctypes.get_errno()
        if code in _UNSUPPORTED:
            _EXCHANGE = None  # this file system will not exchange: stop asking
        elif code != errno.ENOENT:  # ENOENT: nothing to exchange with yet (or no folder)
            raise OSError(code, os.strerror(code), destination)
    os.replace(source, destination)
