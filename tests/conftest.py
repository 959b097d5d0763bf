"""Shared fixtures: the host guard and a runcgo CLI driver per test.

Every integration test runs real containers as root.  The session-wide host
guard fails the run if /sys/fs/cgroup stops being what it was (a container set
up without its own mount namespace could mount over it), or if mounts, cgroups
or state directories of ours are left behind.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from harness import IS_ROOT, Runcgo, _our_cgroups, _our_mounts, cgroup_fs_type


@pytest.fixture(scope="session", autouse=True)
def host_guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    expected = cgroup_fs_type()
    mounts_before = set(_our_mounts())
    cgroups_before = set(_our_cgroups())
    ours = str(tmp_path_factory.getbasetemp())
    yield
    after = cgroup_fs_type()
    assert after == expected, f"/sys/fs/cgroup changed from {expected} to {after}: a test mounted over it"
    # Another session's temporary directory (a concurrent run on this machine) is
    # not ours to judge.
    leaked_mounts = {m for m in set(_our_mounts()) - mounts_before
                     if not m.startswith("/tmp/pytest-of-") or m.startswith(ours)}
    assert not leaked_mounts, f"mounts left behind: {sorted(leaked_mounts)}"
    leaked_cg = set(_our_cgroups()) - cgroups_before
    assert not leaked_cg, f"cgroups left behind: {sorted(leaked_cg)}"


@pytest.fixture
def runcgo(tmp_path: Path) -> Iterator[Runcgo]:
    if not IS_ROOT:
        pytest.skip("integration tests run real containers and need root")
    root = tmp_path / "state"
    rc = Runcgo(root, tmp_path)
    yield rc
    rc.cleanup()
    leftover = [p.name for p in root.iterdir()] if root.exists() else []
    assert not leftover, f"state left behind: {leftover}"
