"""Shared fixtures: the host guard and a runcgo CLI driver per test.

Every integration test runs real containers as root.  The session-wide host
guard fails the run if /sys/fs/cgroup stops being what it was (a container set
up without its own mount namespace could mount over it), or if mounts, cgroups
or state directories of ours are left behind.  A per-test guard watches the
host's shared device nodes (/dev/null …): a runtime that chowns or chmods a
bind-mounted host node from a user namespace changes them for the whole host,
and the test that did it fails by name (the node is put back, so the rest of
the run is not poisoned).
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


_HOST_NODES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")


def _node_owners() -> dict[str, tuple[int, int, int]]:
    out = {}
    for path in _HOST_NODES:
        try:
            st = os.stat(path)
        except OSError:
            continue
        out[path] = (st.st_uid, st.st_gid, st.st_mode & 0o7777)
    return out


@pytest.fixture(autouse=True)
def host_device_guard() -> Iterator[None]:
    before = _node_owners()
    yield
    changed = {p: (was, now) for p, now in _node_owners().items()
               if (was := before.get(p)) is not None and was != now}
    for path, (was, _now) in changed.items():
        os.chown(path, was[0], was[1])
        os.chmod(path, was[2])
    assert not changed, ("host device nodes changed (uid, gid, mode) -> restored: "
                         + ", ".join(f"{p} {w} -> {n}" for p, (w, n) in changed.items()))


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
