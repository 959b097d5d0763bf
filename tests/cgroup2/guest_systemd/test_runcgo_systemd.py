"""The systemd cgroup driver for real: ``runcgo --systemd-cgroup`` in a guest whose
PID 1 is systemd (pure cgroup v2).  The container must become a transient scope
made over D-Bus with Delegate=yes and its limits as unit properties."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

CG = Path("/sys/fs/cgroup")


def _show(unit: str, *props: str) -> dict[str, str]:
    out = subprocess.run(["systemctl", "show", unit, *(f"--property={p}" for p in props)],
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _read(path: Path) -> str:
    return path.read_text().strip()


def test_transient_scope_with_limits_update_and_delete(runcgo: Any) -> None:
    cid, bundle = runcgo.bundle(["sleep", "1000"])
    unit = f"runcgo-{cid}.scope"
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["linux"]["cgroupsPath"] = f"system.slice:runcgo:{cid}"
    cfg["linux"]["resources"] = {
        "devices": [{"allow": False, "access": "rwm"}],
        "memory": {"limit": 64 << 20},
        "pids": {"limit": 30},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
    }
    (bundle / "config.json").write_text(json.dumps(cfg))
    r = runcgo("--systemd-cgroup", "run", "-d", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr

    d = CG / "system.slice" / unit
    init = runcgo.state(cid)["pid"]
    assert _read(Path(f"/proc/{init}/cgroup")) == f"0::/system.slice/{unit}"
    props = _show(unit, "Delegate", "MemoryMax", "TasksMax", "CPUWeight",
                  "CPUQuotaPerSecUSec", "AllowedCPUs", "ActiveState", "ControlGroup", "Slice")
    assert props["ActiveState"] == "active", props
    assert props["Delegate"] == "yes"
    assert props["Slice"] == "system.slice"
    assert props["ControlGroup"] == f"/system.slice/{unit}"
    assert props["MemoryMax"] == str(64 << 20)
    assert props["TasksMax"] == "30"
    assert props["CPUWeight"] == "20"
    assert props["CPUQuotaPerSecUSec"] == "500ms"
    assert props["AllowedCPUs"] == "0"
    assert _read(d / "memory.max") == str(64 << 20)
    assert _read(d / "pids.max") == "30"
    assert _read(d / "cpu.max") == "50000 100000"
    assert _read(d / "cpu.weight") == "20"
    assert sorted(int(p) for p in _read(d / "cgroup.procs").split()) == [init]

    r = runcgo("--systemd-cgroup", "update", "--memory", str(128 << 20), "--pids-limit", "40",
               cid)
    assert r.returncode == 0, r.stderr
    props = _show(unit, "MemoryMax", "TasksMax")
    assert props == {"MemoryMax": str(128 << 20), "TasksMax": "40"}
    assert _read(d / "memory.max") == str(128 << 20)

    r = runcgo("--systemd-cgroup", "kill", cid, "KILL")
    assert r.returncode == 0, r.stderr
    r = runcgo("--systemd-cgroup", "delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    assert not d.exists()
    assert _show(unit, "ActiveState")["ActiveState"] in ("inactive", "failed")
    assert _show(unit, "LoadState")["LoadState"] == "not-found"
