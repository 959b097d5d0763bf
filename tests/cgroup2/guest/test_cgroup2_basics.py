"""Examples of guest-side tests: plain cgroup v2 facts the drivers rely on.

These run inside the VM only (see tests/cgroup2/conftest.py).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")

REQUIRED = {"cpuset", "cpu", "io", "memory", "pids", "hugetlb"}


def _fstype(path: str) -> str:
    return subprocess.run(
        ["stat", "-f", "-c", "%T", path], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_unified_hierarchy_with_all_controllers() -> None:
    assert _fstype("/sys/fs/cgroup") == "cgroup2fs"
    avail = set((CGROUP_ROOT / "cgroup.controllers").read_text().split())
    enabled = set((CGROUP_ROOT / "cgroup.subtree_control").read_text().split())
    assert avail >= REQUIRED
    assert enabled >= REQUIRED
    assert "nsdelegate" in Path("/proc/self/mountinfo").read_text()


def test_child_limits_and_membership(cgroup: Path) -> None:
    (cgroup / "memory.max").write_text(str(64 << 20))
    (cgroup / "pids.max").write_text("16")
    (cgroup / "cpu.max").write_text("50000 100000")
    assert (cgroup / "memory.max").read_text().strip() == str(64 << 20)
    p = subprocess.run(
        [sys.executable, "-c", "print(open('/proc/self/cgroup').read().strip())"],
        preexec_fn=lambda: (cgroup / "cgroup.procs").write_text("0"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert p.stdout.strip() == f"0::/{cgroup.name}"


def test_pids_max_is_enforced(cgroup: Path) -> None:
    (cgroup / "pids.max").write_text("3")
    script = "for i in 1 2 3 4 5 6; do sleep 1 & done; wait"
    p = subprocess.run(
        ["/bin/sh", "-c", script],
        preexec_fn=lambda: (cgroup / "cgroup.procs").write_text("0"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "fork" in p.stderr.lower() or "resource" in p.stderr.lower(), p.stderr
    events = (cgroup / "pids.events").read_text()
    assert int(events.split()[1]) > 0


def test_freeze(cgroup: Path) -> None:
    proc = subprocess.Popen(
        ["sleep", "60"], preexec_fn=lambda: (cgroup / "cgroup.procs").write_text("0")
    )
    try:
        (cgroup / "cgroup.freeze").write_text("1")
        for _ in range(500):
            if "frozen 1" in (cgroup / "cgroup.events").read_text():
                break
            time.sleep(0.01)
        assert "frozen 1" in (cgroup / "cgroup.events").read_text()
        (cgroup / "cgroup.freeze").write_text("0")
    finally:
        proc.kill()
        proc.wait()
