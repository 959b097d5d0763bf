"""Smoke test of the cgroup-v2 VM launcher (tests/vm/launch.py), run on the host."""

from __future__ import annotations

import re
import sys
import textwrap
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))
import vmtier

_reason = vmtier.vm_unavailable_reason()
pytestmark = [
    pytest.mark.skipif(_reason is not None, reason=_reason or ""),
    pytest.mark.slow,
    pytest.mark.vm,
    pytest.mark.timeout(600),
]

GUEST_CODE = textwrap.dedent(
    """
    import os, subprocess, sys
    from pathlib import Path
    root = Path("/sys/fs/cgroup")
    fstype = subprocess.run(["stat", "-f", "-c", "%T", str(root)],
                            capture_output=True, text=True).stdout.strip()
    assert fstype == "cgroup2fs", fstype
    avail = set((root / "cgroup.controllers").read_text().split())
    assert {"memory", "pids", "cpu", "io"} <= avail, avail
    assert {"memory", "pids", "cpu", "io"} <= set((root / "cgroup.subtree_control").read_text().split())
    cg = root / "runcgo-smoke"
    cg.mkdir()
    try:
        (cg / "memory.max").write_text(str(32 << 20))
        (cg / "pids.max").write_text("8")
        p = subprocess.run(["cat", "/proc/self/cgroup"], capture_output=True, text=True,
                           preexec_fn=lambda: (cg / "cgroup.procs").write_text("0"), check=True)
        assert p.stdout.strip() == "0::/runcgo-smoke", p.stdout
        assert (cg / "memory.max").read_text().strip() == str(32 << 20)
        assert (cg / "pids.max").read_text().strip() == "8"
        assert (cg / "cgroup.procs").read_text() == ""
    finally:
        cg.rmdir()
    assert not cg.exists()
    print("SMOKE-OK", sys.executable)
    sys.exit(42)
    """
)


def test_vm_runs_command_with_cgroup2() -> None:
    before = vmtier.host_cgroup_fstype()
    t0 = time.monotonic()
    p = vmtier.run_in_vm([sys.executable, "-c", GUEST_CODE], timeout=300)
    elapsed = time.monotonic() - t0
    assert p.returncode == 42, (
        f"launcher exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    )
    assert "SMOKE-OK" in p.stdout
    print(f"VM smoke test: {elapsed:.1f}s")
    assert vmtier.host_cgroup_fstype() == before  # the VM never touches the host's cgroups


def test_vm_timeout_is_125_and_kills_qemu() -> None:
    p = vmtier.run_in_vm(["sleep", "1000"], timeout=2)
    assert p.returncode == vmtier.VM_FAILURE, p.stderr
    assert "timeout" in p.stderr
    m = re.search(r"qemu \(pid (\d+)\) killed", p.stderr)
    assert m, p.stderr
    comm = Path(f"/proc/{m.group(1)}/comm")
    assert not comm.exists() or "qemu" not in comm.read_text()


def test_vm_stalled_boot_is_retried_then_125() -> None:
    """A guest that never reaches the command is booted again, then given up on.

    A boot timeout shorter than any boot stands in for the rare TCG hang: every attempt
    stalls, each is reported and its qemu killed, and the launcher exits 125 without
    having run the command (its output never appears).
    """
    p = vmtier.run_in_vm(["echo", "RAN"], timeout=300, extra=["--boot-timeout", "0.5"])
    assert p.returncode == vmtier.VM_FAILURE, p.stderr
    assert "RAN" not in p.stdout
    attempts = re.findall(r"boot attempt (\d)/3: (.+?) within 0.5s; qemu killed", p.stderr)
    assert [n for n, _ in attempts] == ["1", "2", "3"], p.stderr
    assert "the guest did not boot in 3 attempts" in p.stderr
