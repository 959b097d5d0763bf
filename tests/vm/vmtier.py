"""Host-side helpers for tests that use the cgroup-v2 VM (tests/vm/launch.py).

Import from a test or conftest with::

    sys.path.insert(0, str(<repo>/tests/vm)); import vmtier

Standard library only.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parent / "launch.py"
REPO = LAUNCHER.parents[2]
IN_VM = os.environ.get("RUNCGO_IN_VM") == "1"
VM_FAILURE = 125


def vm_unavailable_reason() -> str | None:
    """Why the VM can't be booted here, or None.  Only missing host pieces count."""
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
    if not glob.glob("/boot/vmlinuz-*"):
        return "no /boot/vmlinuz-* (apt-get install linux-image-amd64)"
    return None


def launcher_argv(
    cmd: list[str],
    *,
    systemd: bool = False,
    timeout: float | None = None,
    shares: list[str] | tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    extra: list[str] | tuple[str, ...] = (),
) -> list[str]:
    argv = [sys.executable, str(LAUNCHER)]
    if systemd:
        argv.append("--systemd")
    if timeout is not None:
        argv += ["--timeout", str(timeout)]
    # The checkout itself (and its .venv) must be visible in the guest even when it
    # lives under a path the guest covers with its own tmpfs (/tmp, /run): CI clones
    # anywhere.  Shared read-write at the same path.
    repo = str(Path(__file__).resolve().parents[2])
    for s in dict.fromkeys([repo, *map(str, shares)]):
        argv += ["--share", s]
    for k, v in (env or {}).items():
        argv += ["--env", f"{k}={v}"]
    if cwd is not None:
        argv += ["--cwd", str(cwd)]
    argv += list(extra)
    return [*argv, "--", *cmd]


def run_in_vm(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    """Run CMD in a fresh VM, capturing stdout/stderr as text."""
    run_kw = {k: kw.pop(k) for k in ("stdout", "stderr", "check") if k in kw}
    argv = launcher_argv(cmd, **kw)  # type: ignore[arg-type]
    run_kw.setdefault("stdout", subprocess.PIPE)
    run_kw.setdefault("stderr", subprocess.PIPE)
    p: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
        argv, stdin=subprocess.DEVNULL, text=True, **run_kw
    )
    return p


def host_cgroup_fstype() -> str:
    """`stat -f -c %T /sys/fs/cgroup`: 'tmpfs' on this (v1 hybrid) host."""
    out = subprocess.run(
        ["stat", "-f", "-c", "%T", "/sys/fs/cgroup"], capture_output=True, text=True, check=False
    )
    return out.stdout.strip()
