"""Fixtures for tests that run INSIDE the cgroup-v2 VM (see ../conftest.py)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CGROUP_ROOT = Path("/sys/fs/cgroup")


@pytest.fixture(autouse=True)
def _only_in_vm() -> None:
    # Belt and braces: never touch the host's cgroups.  On the host these tests are
    # replaced by proxies (../conftest.py), so this only fires if someone bypasses that.
    if os.environ.get("RUNCGO_IN_VM") != "1":
        pytest.skip("runs only inside the cgroup-v2 VM (RUNCGO_IN_VM=1)")


def remove_cgroup(path: Path) -> None:
    """Kill everything in PATH (and below), then rmdir bottom-up."""
    if not path.exists():
        return
    kill = path / "cgroup.kill"
    if kill.exists():
        kill.write_text("1")
    for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        _rmdir(sub)
    _rmdir(path)


def _rmdir(p: Path) -> None:
    for _ in range(200):
        try:
            p.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:  # EBUSY while killed tasks exit
            time.sleep(0.01)
    p.rmdir()


@pytest.fixture
def cgroup(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A fresh child cgroup of the root, removed (with its processes) afterwards."""
    name = "runcgo-test-" + "".join(c if c.isalnum() else "-" for c in request.node.name)[:80]
    path = CGROUP_ROOT / name
    remove_cgroup(path)
    path.mkdir()
    try:
        yield path
    finally:
        remove_cgroup(path)


# ---------------------------------------------------------------------------
# Real containers through the runcgo CLI (tests/harness.py), inside the guest.
# ---------------------------------------------------------------------------


@pytest.fixture
def runcgo(tmp_path: Path) -> Iterator[Any]:
    """A CLI driver with a private --root; every container it made is force-deleted
    afterwards.  Imported lazily: tests/harness.py is host-safe, but the guest is slow."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import harness

    rc = harness.Runcgo(tmp_path / "root", tmp_path)
    try:
        yield rc
    finally:
        # only containers whose state is still there: each CLI call costs ~1.5 s here
        rc.ids = [i for i in rc.ids if (rc.root / i).exists()]
        rc.cleanup()
