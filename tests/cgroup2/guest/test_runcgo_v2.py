"""Real containers through the runcgo CLI on pure cgroup v2 (inside the VM).

Each test drives ``runcgo`` (this checkout, see ../conftest.py) on a busybox bundle
and checks what the kernel shows: the files of the container's cgroup from the
guest's side, and ``/sys/fs/cgroup`` + ``/proc/self/cgroup`` from inside the
container.  CLI calls cost ~1.5 s each under TCG, so one container is reused for
many checks and the tests are few.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

CG = Path("/sys/fs/cgroup")
NEST = "runcgo-test-nest"  # an intermediate cgroup runcgo must create and remove

# resources.devices: runc's default "deny all", then write-only access to /dev/kmsg
# (c 1:11), a device runc's always-allowed list does not cover.
DEVICES = [
    {"allow": False, "access": "rwm"},
    {"allow": False, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "w"},
]

# What the container's init reports about itself before it settles down.
INSIDE = r"""
exec 2>&1
{
echo cgroup=$(cat /proc/self/cgroup)
echo mnt=$(grep ' /sys/fs/cgroup ' /proc/self/mountinfo | sed 's/.* - //')
echo memmax=$(cat /sys/fs/cgroup/memory.max)
echo pidsmax=$(cat /sys/fs/cgroup/pids.max)
echo ctl=$(cat /sys/fs/cgroup/cgroup.controllers)
head -c1 /dev/null >/dev/null && echo null=ok
head -c1 /dev/full | wc -c | sed 's/^/full=/'
mknod /dev/k c 1 11 && echo mknod=ok
echo hi > /dev/k && echo kmsg_w=ok || echo kmsg_w=denied
head -c1 /dev/k >/dev/null && echo kmsg_r=ok || echo kmsg_r=denied
s=$(date +%s); dd if=/dev/vda of=/dev/null bs=512K count=12 iflag=direct 2>/dev/null
echo io_secs=$(( $(date +%s) - s ))
} > /tmp/inside.txt 2>&1
echo done >> /tmp/inside.txt
while :; do :; done &
exec sleep 1000
"""


def _wait_for(pred: Any, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _read(path: Path) -> str:
    return path.read_text().strip()


def _kv(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _cpu_usec(d: Path) -> int:
    return int(_read(d / "cpu.stat").split("\n")[0].split()[1])


def test_container_resources_and_lifecycle(runcgo: Any, tmp_path: Path) -> None:
    """One container with every resource v2 can take, then ps/exec/update/pause/
    resume/kill --all/delete on it."""
    vda = os.stat("/dev/vda")
    major, minor = os.major(vda.st_rdev), os.minor(vda.st_rdev)
    cid, bundle = runcgo.bundle(["sh", "-c", INSIDE])
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["root"]["readonly"] = False
    cfg["process"]["capabilities"]["bounding"].append("CAP_MKNOD")
    cfg["process"]["capabilities"]["effective"].append("CAP_MKNOD")
    cfg["process"]["capabilities"]["permitted"].append("CAP_MKNOD")
    cfg["linux"]["cgroupsPath"] = f"/{NEST}/{cid}"
    cfg["linux"]["devices"] = [
        {"path": "/dev/vda", "type": "b", "major": major, "minor": minor, "fileMode": 0o660}
    ]
    cfg["linux"]["resources"] = {
        # a node in linux.devices is made, not allowed: reading it takes a rule (runc 1.1.5)
        "devices": [*DEVICES, {"allow": True, "type": "b", "major": major, "minor": minor,
                               "access": "r"}],
        "memory": {"limit": 64 << 20, "swap": 96 << 20, "reservation": 16 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 10000,
                "cpus": "1", "mems": "0"},
        "pids": {"limit": 50},
        "blockIO": {
            "weight": 500,
            "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 2 << 20}],
        },
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}],
        "unified": {"memory.high": str(48 << 20), "memory.oom.group": "1"},
    }
    (bundle / "config.json").write_text(json.dumps(cfg))

    r = runcgo("run", "-d", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    d = CG / NEST / cid
    inside_file = bundle / "rootfs" / "tmp" / "inside.txt"
    _wait_for(lambda: inside_file.exists() and "done" in inside_file.read_text(), 60,
              "the container's report")
    inside = _kv(inside_file.read_text())

    # -- the cgroup, created where cgroupsPath says, controllers enabled down the path
    assert d.is_dir()
    for level in (CG, CG / NEST):
        enabled = set(_read(level / "cgroup.subtree_control").split())
        assert {"cpu", "cpuset", "io", "memory", "pids", "hugetlb"} <= enabled, level
    # -- limits (host side)
    assert _read(d / "memory.max") == str(64 << 20)
    assert _read(d / "memory.swap.max") == str(32 << 20)  # OCI swap is memory+swap
    assert _read(d / "memory.low") == str(16 << 20)
    assert _read(d / "memory.high") == str(48 << 20)  # unified
    assert _read(d / "memory.oom.group") == "1"  # unified
    assert _read(d / "cpu.max") == "50000 100000"
    assert _read(d / "cpu.max.burst") == "10000"
    assert _read(d / "cpu.weight") == "20"  # runc: 1 + (512-2)*9999/262142
    assert _read(d / "cpuset.cpus") == "1"
    assert _read(d / "cpuset.mems") == "0"
    assert _read(d / "pids.max") == "50"
    assert _read(d / "hugetlb.2MB.max") == str(4 << 20)
    assert f"{major}:{minor} rbps={2 << 20}" in _read(d / "io.max")
    if (d / "io.bfq.weight").exists():
        assert "default 500" in _read(d / "io.bfq.weight")
    else:
        assert "default 4950" in _read(d / "io.weight")  # 1 + (500-10)*9999/990
    # -- inside: cgroup namespace root, a cgroup2 mount of its own cgroup, devices
    assert inside["cgroup"] == "0::/"
    assert inside["mnt"].startswith("cgroup2 cgroup"), inside
    assert inside["memmax"] == str(64 << 20)
    assert inside["pidsmax"] == "50"
    assert "memory" in inside["ctl"].split()
    assert inside["null"] == "ok"
    assert inside["full"] == "1"  # runc's defaults re-allow 1:7 after the spec's deny
    assert inside["mknod"] == "ok"  # "c *:* m" is always allowed
    assert inside["kmsg_w"] == "ok"
    assert inside["kmsg_r"] == "denied"  # the eBPF program refuses r on 1:11
    assert int(inside["io_secs"]) >= 2, inside  # 6 MiB at 2 MiB/s (io.max rbps)

    init = runcgo.state(cid)["pid"]
    assert _read(Path(f"/proc/{init}/cgroup")) == f"0::/{NEST}/{cid}"

    # -- exec joins the container's cgroup; ps lists exactly the container's pids
    pidfile = tmp_path / "exec.pid"
    r = runcgo("exec", "-d", "--pid-file", str(pidfile), cid, "sh", "-c",
               "cat /proc/self/cgroup > /tmp/exec.txt; exec sleep 1000")
    assert r.returncode == 0, r.stderr
    exec_pid = int(pidfile.read_text())
    assert _read(Path(f"/proc/{exec_pid}/cgroup")) == f"0::/{NEST}/{cid}"
    exec_file = bundle / "rootfs" / "tmp" / "exec.txt"
    _wait_for(lambda: exec_file.exists() and exec_file.read_text(), 20, "exec's report")
    assert _read(exec_file) == "0::/"  # inside the container's cgroup namespace root
    r = runcgo("ps", "--format", "json", cid)
    assert r.returncode == 0, r.stderr
    procs = sorted(int(p) for p in _read(d / "cgroup.procs").split())
    assert sorted(json.loads(r.stdout)) == procs
    assert init in procs and exec_pid in procs and len(procs) == 3  # init, busy loop, exec

    # -- update changes live limits (flags and --resources)
    r = runcgo("update", "--memory", str(128 << 20), "--memory-swap", str(160 << 20),
               "--pids-limit", "20", "--cpu-quota", "20000", cid)
    assert r.returncode == 0, r.stderr
    assert _read(d / "memory.max") == str(128 << 20)
    assert _read(d / "memory.swap.max") == str(32 << 20)
    assert _read(d / "pids.max") == "20"
    assert _read(d / "cpu.max") == "20000 100000"
    r = runcgo("update", "--resources", "-", cid,
               input=json.dumps({"cpu": {"shares": 1024}, "unified": {"memory.high": "max"}}))
    assert r.returncode == 0, r.stderr
    assert _read(d / "cpu.weight") == "39"
    assert _read(d / "memory.high") == "max"
    assert _read(d / "memory.max") == str(128 << 20)  # absent fields left alone

    # -- events --stats: runc's shape, v2 swap reported as memory+swap like runc
    r = runcgo("events", "--stats", cid)
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout.splitlines()[0])
    assert ev["type"] == "stats" and ev["id"] == cid
    data = ev["data"]
    assert data["memory"]["usage"]["limit"] == 128 << 20
    assert data["memory"]["swap"]["limit"] == 160 << 20
    assert data["pids"] == {"current": 3, "limit": 20}
    assert data["cpu"]["usage"]["total"] > 0
    assert data["cpu"]["throttling"]["throttledPeriods"] > 0  # the busy loop hits cpu.max
    assert data["cpuset"]["cpus"] == "1"

    # -- pause: cgroup.freeze, status paused, no CPU accrues; resume restarts it
    r = runcgo("pause", cid)
    assert r.returncode == 0, r.stderr
    assert _read(d / "cgroup.freeze") == "1"
    assert "frozen 1" in (d / "cgroup.events").read_text()
    assert runcgo.state(cid)["status"] == "paused"
    u0 = _cpu_usec(d)
    time.sleep(0.7)
    assert _cpu_usec(d) == u0
    r = runcgo("resume", cid)
    assert r.returncode == 0, r.stderr
    assert runcgo.state(cid)["status"] == "running"
    u1 = _cpu_usec(d)
    time.sleep(0.7)
    assert _cpu_usec(d) > u1

    # -- kill --all reaches every process; delete removes the cgroups it made
    r = runcgo("kill", "--all", cid, "KILL")
    assert r.returncode == 0, r.stderr
    _wait_for(lambda: not _read(d / "cgroup.procs"), 20, "the cgroup to empty")
    assert not Path(f"/proc/{exec_pid}").exists() or "zombie" in _proc_state(exec_pid)
    r = runcgo("delete", cid)
    assert r.returncode == 0, r.stderr
    assert not d.exists()
    assert not (CG / NEST).exists()  # runcgo made it, runcgo removed it


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0]
    except (OSError, IndexError):
        return "gone"


def test_oom_kill_is_reported_by_events(runcgo: Any, tmp_path: Path) -> None:
    """32 MiB, no swap: a process allocating 64 MiB is OOM-killed and ``events``
    says {"type":"oom"}, from memory.events."""
    cid, bundle = runcgo.bundle(
        ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1; echo dd_rc=$?; sleep 2"],
        **{"linux.resources.memory": {"limit": 32 << 20, "swap": 32 << 20}},
    )
    out = tmp_path / "init.out"
    with out.open("w") as f:
        p = subprocess.run([*_cli(runcgo), "create", "--bundle", str(bundle), cid],
                           stdin=subprocess.DEVNULL, stdout=f, stderr=f, timeout=60)
    assert p.returncode == 0, out.read_text()
    from harness import TEST_CG_PREFIX

    d = CG / f"{TEST_CG_PREFIX}{cid}"
    assert _read(d / "memory.max") == str(32 << 20)
    assert _read(d / "memory.swap.max") == "0"
    ev_out = tmp_path / "events.out"
    with ev_out.open("w") as f:
        ev = subprocess.Popen([*_cli(runcgo), "events", "--interval", "30s", cid],
                              stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
    try:
        time.sleep(2.5)  # events is up and watching memory.events (slow guest python)
        r = runcgo("start", cid)
        assert r.returncode == 0, r.stderr
        _wait_for(lambda: "dd_rc=" in out.read_text(), 60, "dd to die")
        assert "dd_rc=137" in out.read_text()
        assert "oom_kill 1" in (d / "memory.events").read_text()
        _wait_for(lambda: '"oom"' in ev_out.read_text(), 20, "the oom event")
    finally:
        ev.kill()
        ev.wait()
    events = [json.loads(line) for line in ev_out.read_text().splitlines() if line.startswith("{")]
    assert {"type": "oom", "id": cid} in [{k: e.get(k) for k in ("type", "id")} for e in events]


def _cli(runcgo: Any) -> list[str]:
    import harness

    return [*harness.runcgo_cmd(), "--root", str(runcgo.root)]


def test_pids_limit_and_default_cgroups_path(runcgo: Any) -> None:
    """pids.max=10: the 11th process cannot be forked.  Without cgroupsPath the cgroup
    is ``<id>`` next to runcgo's own cgroup (runc's v2 default).  Without a cgroup
    namespace, the container sees its full cgroup path and /sys/fs/cgroup is its own
    cgroup directory."""
    script = ("echo cg=$(cat /proc/self/cgroup) pids=$(cat /sys/fs/cgroup/pids.max);"
              " for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 30 & echo started $i; done;"
              " echo survived")
    cid, bundle = runcgo.bundle(["sh", "-c", script],
                                **{"linux.cgroupsPath": ..., "linux.resources.pids": {"limit": 10}})
    # no cgroup namespace: the `cgroup` mount is a bind of the container's own cgroup
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "cgroup"]
    (bundle / "config.json").write_text(json.dumps(cfg))
    own = _read(Path("/proc/self/cgroup")).split("::", 1)[1]
    d = CG / os.path.dirname(own).lstrip("/") / cid
    r = runcgo("create", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert _read(d / "pids.max") == "10"
    r = runcgo("delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    assert not d.exists()
    r = runcgo("run", "--bundle", str(bundle), cid)
    lines = r.stdout.split()
    assert "survived" not in r.stdout
    assert lines[0] == f"cg=0::{os.path.dirname(own).rstrip('/')}/{cid}", r.stdout
    assert lines[1] == "pids=10"
    lines = lines[2:]
    started = [int(x) for x in lines[1::2] if x.isdigit()]
    assert max(started) == 9, (r.stdout, r.stderr)  # sh + 9 sleeps = 10
    assert "fork" in (r.stdout + r.stderr).lower()
