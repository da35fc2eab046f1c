"""Process-unique names: distinct within a process, and in a forked child."""

from __future__ import annotations

import os

from shared.process_names import ProcessNames


def test_counts_within_a_process_and_starts_afresh_in_a_forked_child() -> None:
    names = ProcessNames(6)
    assert len(names.tag) == 12
    assert [names.next() for _ in range(3)] == [0, 1, 2]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports its tag and first count, then leaves at once
        os.write(write, f"{names.tag} {names.next()}".encode())
        os._exit(0)
    os.close(write)
    child_tag, child_first = os.read(read, 100).decode().split()
    os.close(read)
    os.waitpid(pid, 0)
    assert child_tag != names.tag
    assert child_first == "0"
    assert names.next() == 3
