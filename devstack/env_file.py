"""var/newswire.env: where the running stack is, for the `newswire` command.

`NAME=value` lines, values unquoted (dotenv's simplest form), written atomically once the
stack is up and removed when it stops cleanly; a stack that was killed leaves it behind,
pointing at a Redis that no longer answers.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

ENV_FILE = "newswire.env"


def render(values: Mapping[str, str]) -> str:
    """The file's text.

    Raises:
        ValueError: a value holds a line break, which the format cannot carry.
    """
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            raise ValueError(f"{name} holds a line break; {ENV_FILE} cannot carry it")
    return "".join(f"{name}={value}\n" for name, value in values.items())


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text`: a reader sees the old file or the new one, never a part."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class EnvFile:
    """The stack's env file; once `remove()`d (the stack is stopping) it is never written."""

    def __init__(self, var: Path) -> None:
        self.path = var / ENV_FILE
        self._lock = threading.Lock()
        self._removed = False

    def write(self, values: Mapping[str, str]) -> bool:
        """Write the file, unless the stack is stopping; whether it was written."""
        text = render(values)
        with self._lock:
            if self._removed:
                return False
            write_atomically(self.path, text)
            return True

    def remove(self) -> None:
        with self._lock:
            self._removed = True
            self.path.unlink(missing_ok=True)

    def remove_stale(self) -> None:
        """Remove what a stack that was killed left, before this one is up."""
        self.path.unlink(missing_ok=True)
