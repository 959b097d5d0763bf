"""Tests here run INSIDE the cgroup-v2 VM booted with the host's systemd as PID 1
(one boot for all of them; see ../conftest.py).  D-Bus (the system bus) is up; the
test process runs in /system.slice/runcgo-job.service."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _only_in_vm() -> None:
    if os.environ.get("RUNCGO_IN_VM") != "1":
        pytest.skip("runs only inside the cgroup-v2 VM (RUNCGO_IN_VM=1)")


@pytest.fixture
def runcgo(tmp_path: Path) -> Iterator[Any]:
    """A CLI driver (tests/harness.py) with a private --root; containers it made and
    whose state is still there are force-deleted afterwards."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import harness

    rc = harness.Runcgo(tmp_path / "root", tmp_path)
    try:
        yield rc
    finally:
        rc.ids = [i for i in rc.ids if (rc.root / i).exists()]
        rc.cleanup()
