"""requirements.lock: what the tests run is what the image ships.

The lock pins every runtime dependency, transitive ones too, with hashes; the Dockerfile and
`make venv` both install it. These tests hold it to pyproject.toml and to this venv.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.test_compose import dockerfile_instructions

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def lock_entries() -> dict[str, tuple[str, Requirement, list[str]]]:
    """Canonical name → (pinned version, the requirement with its marker, its hashes)."""
    text = (ROOT / "requirements.lock").read_text()
    logical = re.sub(r"\s*\\\n\s*", " ", text)  # join continuation lines
    entries = {}
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        spec, *options = re.split(r"\s+(?=--)", line)
        requirement = Requirement(spec)
        [pin] = list(requirement.specifier)
        assert pin.operator == "==", f"{spec!r} is not pinned exactly"
        hashes = [o.removeprefix("--hash=") for o in options if o.startswith("--hash=")]
        entries[canonicalize_name(requirement.name)] = (pin.version, requirement, hashes)
    return entries


def pins(requirements: list[str]) -> dict[str, str]:
    found = {}
    for text in requirements:
        requirement = Requirement(text)
        [pin] = list(requirement.specifier)
        found[canonicalize_name(requirement.name)] = pin.version
    return found


def test_every_runtime_pin_is_in_the_lock_at_its_version():
    locked = lock_entries()
    runtime = pins(PYPROJECT["project"]["dependencies"])
    assert runtime
    for name, version in runtime.items():
        assert name in locked, f"{name} is missing from requirements.lock: run `make lock`"
        assert locked[name][0] == version, (
            f"{name}: lock has {locked[name][0]}, pyproject {version}"
        )


def test_every_lock_line_carries_a_sha256_hash():
    locked = lock_entries()
    assert len(locked) > len(PYPROJECT["project"]["dependencies"])  # transitive ones too
    for name, (_, _, hashes) in locked.items():
        assert hashes, f"{name} has no hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name


def test_dev_and_test_pins_do_not_override_a_locked_version():
    """`make venv` installs the lock, then the extras: an extra pinning a locked package at
    another version would silently replace it in the venv, and the tests would run that."""
    locked = lock_entries()
    for extra, requirements in PYPROJECT["project"]["optional-dependencies"].items():
        for name, version in pins(requirements).items():
            if name in locked:
                assert locked[name][0] == version, f"[{extra}] {name}=={version} vs the lock"


def test_this_venv_runs_the_locked_versions_of_everything_the_runtime_needs():
    """Walk the runtime requirements (extras and markers included) through the installed
    distributions: each one reached is in the lock, and installed at the locked version."""
    locked = lock_entries()
    environment = default_environment()
    visited: set[tuple[str, str]] = set()  # (distribution, extra) already expanded
    pending = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        installed = metadata.version(requirement.name)
        assert name in locked, f"{name} (needed at run time) is missing from the lock"
        assert installed == locked[name][0], f"{name}: venv has {installed}, lock {locked[name][0]}"
        for extra in {"", *requirement.extras} - {e for n, e in visited if n == name}:
            visited.add((name, extra))
            for text in metadata.requires(requirement.name) or []:
                child = Requirement(text)
                if child.marker is None or child.marker.evaluate({**environment, "extra": extra}):
                    pending.append(child)
    reached = {name for name, _ in visited}
    assert len(reached) > len(PYPROJECT["project"]["dependencies"])
    # A locked package no runtime requirement reaches here must be for another platform.
    for name, (_, requirement, _) in locked.items():
        if name not in reached:
            assert requirement.marker is not None and not requirement.marker.evaluate(), name


def test_the_image_installs_the_lock_with_hashes_then_the_project_alone():
    runs = [args for instruction, args in dockerfile_instructions() if instruction == "RUN"]
    copies = [args for instruction, args in dockerfile_instructions() if instruction == "COPY"]
    [lock_install] = [r for r in runs if "requirements.lock" in r and "pip install" in r]
    assert "--require-hashes" in lock_install
    assert "--no-deps" in lock_install
    assert any(c.split()[0] == "requirements.lock" for c in copies)
    assert any(re.search(r"pip install --no-cache-dir --no-deps \.( |$)", r) for r in runs)
    # The lock's layer comes before the sources', so a code change reuses it.
    order = [args for instruction, args in dockerfile_instructions() if instruction == "COPY"]
    assert order.index(next(c for c in order if "requirements.lock" in c)) < order.index(
        next(c for c in order if c.startswith("shared/"))
    )
