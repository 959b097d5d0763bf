"""Examples of guest-side tests that need systemd as PID 1 (the systemd cgroup driver)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def test_systemd_is_pid1_with_dbus() -> None:
    assert Path("/proc/1/comm").read_text().strip() == "systemd"
    assert Path("/run/dbus/system_bus_socket").exists()
    assert Path("/proc/self/cgroup").read_text().strip() == "0::/system.slice/runcgo-job.service"
    out = subprocess.run(
        [
            "busctl",
            "get-property",
            "org.freedesktop.systemd1",
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "Version",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("s ")


def test_transient_scope_with_delegation_and_limits() -> None:
    unit = "runcgo-example.scope"
    p = subprocess.run(
        [
            "systemd-run",
            "--quiet",
            "--scope",
            f"--unit={unit}",
            "--slice=system.slice",
            "-p",
            "Delegate=yes",
            "-p",
            "MemoryMax=33554432",
            "-p",
            "TasksMax=20",
            "--",
            "sh",
            "-c",
            "cat /proc/self/cgroup; d=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup);"
            " cat $d/memory.max $d/pids.max; stat -c %U $d/cgroup.procs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split()
    assert lines[0] == f"0::/system.slice/{unit}"
    assert lines[1:3] == ["33554432", "20"]
