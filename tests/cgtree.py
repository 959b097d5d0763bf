"""A test's cgroup tree: one relative path (``/runcgo-test-...``) in every mounted
hierarchy, as a runtime makes a container's cgroup.  Shared by the soak and scale
workloads (tests/soak/waves.py) and the cgroup tests that race creates under a
parent they make (tests/cgroups/test_cpuset_race.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import time

CG = "/sys/fs/cgroup"


def hierarchies() -> list[str]:
    """Every mounted cgroup hierarchy root (v1 controllers, hybrid's cgroup2, or v2)."""
    if os.path.exists(f"{CG}/cgroup.procs"):
        return [CG]
    out = []
    for name in sorted(os.listdir(CG)):
        d = os.path.join(CG, name)
        if os.path.isdir(d) and not os.path.islink(d) and os.path.exists(f"{d}/cgroup.procs"):
            out.append(d)
    return out


def tops(rel: str) -> list[str]:
    """``rel`` in each hierarchy where it exists."""
    return [t for t in (os.path.join(h, rel.lstrip("/")) for h in hierarchies()) if os.path.isdir(t)]


def cgroup_dirs(rel: str) -> list[str]:
    """Directories below ``rel`` in any hierarchy (``rel`` itself excluded)."""
    return [d for top in tops(rel) for d, _dirs, _files in os.walk(top) if d != top]


def remove_tree(rel: str) -> None:
    """Remove ``rel`` and everything below it in every hierarchy (after a failed
    run): first the processes in those cgroups -- ours, since we made the tree; a
    created container's init that never exec'd carries no tag to find it by."""
    for _ in range(50):
        pids: set[int] = set()
        for d in [*tops(rel), *cgroup_dirs(rel)]:
            with contextlib.suppress(OSError), open(os.path.join(d, "cgroup.procs")) as f:
                pids |= {int(x) for x in f.read().split()}
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    for top in tops(rel):
        for d, _dirs, _files in os.walk(top, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(d)
