"""The v1/hybrid driver against the real cgroupfs of this machine (root only).

Every test works under /runcgo-test-cg/<uuid> and cleans up (conftest.py).
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from runcgo._struct import decode as _sdecode
from runcgo.kernel import syscalls as sc
from runcgo.kernel.cgroups import CgroupError, CgroupManager, from_state, new_manager
from runcgo.kernel.cgroups.oom import watch
from runcgo.kernel.cgroups.v1 import V1Manager
from runcgo.spec import LinuxDeviceCgroup, LinuxResources

from .conftest import PREFIX, Procs, real

pytestmark = [real, pytest.mark.root]

MakeCg = Callable[[], CgroupManager]


def res(d: dict[str, Any]) -> LinuxResources:
    return _sdecode(json.dumps(d), LinuxResources)


def rd(m: CgroupManager, ctrl: str, name: str) -> str:
    assert isinstance(m, V1Manager)
    d = m.dir_for(ctrl) if ctrl != "unified" else m.unified_dir()
    assert d
    with open(os.path.join(d, name)) as f:
        return f.read().strip()


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def fork_in(m: CgroupManager, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a forked child placed in ``m`` first; return its JSON result."""
    go_r, go_w = os.pipe()
    res_r, res_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(go_w)
            os.close(res_r)
            os.read(go_r, 1)
            out = json.dumps(fn()).encode()
            os.write(res_w, out)
        finally:
            os._exit(0)
    os.close(go_r)
    os.close(res_w)
    try:
        m.apply(pid)
        os.write(go_w, b"x")
        os.close(go_w)
        chunks = []
        while chunk := os.read(res_r, 65536):
            chunks.append(chunk)
    finally:
        os.close(res_r)
        os.waitpid(pid, 0)
    return json.loads(b"".join(chunks) or b"null")


def test_paths_absolute_and_default() -> None:
    m = new_manager("abc", "/runcgo-test-cg/p")
    assert isinstance(m, V1Manager)
    assert m.dirs["memory"] == "/sys/fs/cgroup/memory/runcgo-test-cg/p"
    assert m.dirs["unified"] == "/sys/fs/cgroup/unified/runcgo-test-cg/p"
    # Absent cgroupsPath: relative <id> below our own cgroup in each hierarchy (runc).
    with open("/proc/self/cgroup") as f:
        mine = {ln.split(":")[1]: ln.strip().split(":", 2)[2] for ln in f}
    d = new_manager("abc", None)
    assert isinstance(d, V1Manager)
    assert d.dirs["memory"] == os.path.normpath(f"/sys/fs/cgroup/memory/{mine['memory']}/abc")
    assert not any(os.path.exists(p) for p in d.dirs.values())


def test_resources_written_and_read_back(make_cgroup: MakeCg) -> None:
    m = make_cgroup()
    m.set(res({
        "memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20,
                   "swappiness": 10, "disableOOMKiller": True, "kernel": 1 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000,
                "cpus": "0", "mems": "0"},
        "pids": {"limit": 10},
        "blockIO": {"weight": 500,
                    "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}],
                    "throttleWriteBpsDevice": [{"major": 254, "minor": 0, "rate": 2097152}],
                    "throttleReadIOPSDevice": [{"major": 254, "minor": 0, "rate": 100}],
                    "throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 200}]},
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                    {"allow": True, "type": "b", "major": 7, "access": "r"}],
    }))
    assert rd(m, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert rd(m, "memory", "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert rd(m, "memory", "memory.soft_limit_in_bytes") == str(32 << 20)
    assert rd(m, "memory", "memory.swappiness") == "10"
    assert "oom_kill_disable 1" in rd(m, "memory", "memory.oom_control")
    assert rd(m, "cpu", "cpu.shares") == "512"
    assert rd(m, "cpu", "cpu.cfs_quota_us") == "50000"
    assert rd(m, "cpu", "cpu.cfs_period_us") == "100000"
    assert rd(m, "cpu", "cpu.cfs_burst_us") == "1000"
    # SCHED_IDLE for the group (it forces the weight to the minimum, so last).
    m.set(res({"cpu": {"idle": 1}}))
    assert rd(m, "cpu", "cpu.idle") == "1"
    assert rd(m, "cpuset", "cpuset.cpus") == "0"
    assert rd(m, "cpuset", "cpuset.mems") == "0"
    assert rd(m, "pids", "pids.max") == "10"
    assert rd(m, "blkio", "blkio.bfq.weight") == "500"  # BFQ's file on this kernel
    assert rd(m, "blkio", "blkio.throttle.read_bps_device") == "254:0 1048576"
    assert rd(m, "blkio", "blkio.throttle.write_bps_device") == "254:0 2097152"
    assert rd(m, "blkio", "blkio.throttle.read_iops_device") == "254:0 100"
    assert rd(m, "blkio", "blkio.throttle.write_iops_device") == "254:0 200"
    assert rd(m, "devices", "devices.list").splitlines() == ["c 1:3 rwm", "b 7:* r"]


def test_zero_fields_leave_limits_unchanged(make_cgroup: MakeCg) -> None:
    m = make_cgroup()
    m.set(res({"memory": {"limit": 64 << 20}, "cpu": {"shares": 512, "quota": 20000},
               "pids": {"limit": 10}}))
    # What Docker's update sends: zeros everywhere except the changed fields.
    with open("/work/shared/samples/update.resources.json", "rb") as f:
        docker = _sdecode(f.read(), LinuxResources)
    m.set(docker)
    assert rd(m, "memory", "memory.limit_in_bytes") == "100663296"
    assert rd(m, "memory", "memory.memsw.limit_in_bytes") == "201326592"
    assert rd(m, "cpu", "cpu.shares") == "512"
    assert rd(m, "cpu", "cpu.cfs_quota_us") == "20000"
    assert rd(m, "pids", "pids.max") == "10"
    # Lowering memory below the old memsw and unlimited values both work.
    m.set(res({"memory": {"limit": 16 << 20, "swap": 16 << 20}}))
    assert rd(m, "memory", "memory.limit_in_bytes") == str(16 << 20)
    m.set(res({"memory": {"limit": -1}, "pids": {"limit": -1}, "cpu": {"quota": -1}}))
    assert rd(m, "memory", "memory.limit_in_bytes") == "9223372036854771712"
    assert rd(m, "pids", "pids.max") == "max"
    assert rd(m, "cpu", "cpu.cfs_quota_us") == "-1"


def test_unhonourable_values_name_the_resource(make_cgroup: MakeCg) -> None:
    m = make_cgroup()
    with pytest.raises(CgroupError, match=r"blockIO\.leafWeight"):
        m.set(res({"blockIO": {"leafWeight": 500}}))
    with pytest.raises(CgroupError, match="rdma"):
        m.set(res({"rdma": {"mlx5_0": {"hcaHandles": 3}}}))
    with pytest.raises(CgroupError, match="unified"):
        m.set(res({"unified": {"memory.high": "1000000"}}))
    with pytest.raises(CgroupError, match=r"hugepageLimits\[2MB\]"):
        m.set(res({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]}))
    with pytest.raises(CgroupError, match=r"cpu\.realtimeRuntime"):
        m.set(res({"cpu": {"realtimeRuntime": 5000, "realtimePeriod": 1000000}}))
    with pytest.raises(CgroupError, match="swappiness"):
        m.set(res({"memory": {"swappiness": 101}}))
    with pytest.raises(CgroupError, match=r"cpu\.shares"):
        m.set(res({"cpu": {"shares": 1}}))
    with pytest.raises(CgroupError, match=r"network\.classID"):
        m.set(res({"network": {"classID": 1}}))


def test_check_before_update_refuses_limit_below_usage(make_cgroup: MakeCg, procs: Procs) -> None:
    m = make_cgroup()
    p = procs.gated(sys.executable, "-c", "b = b'x' * (8 << 20); import time; time.sleep(60)")
    m.apply(p.pid)
    procs.release(p)
    deadline = time.monotonic() + 10
    while int(rd(m, "memory", "memory.usage_in_bytes")) < (8 << 20):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with pytest.raises(CgroupError, match="below current usage"):
        m.set(res({"memory": {"limit": 1 << 20, "checkBeforeUpdate": True}}))


def test_membership_in_every_hierarchy(make_cgroup: MakeCg, procs: Procs) -> None:
    m = make_cgroup()
    p = procs.gated(BUSYBOX_SLEEP, "60")
    m.apply(p.pid)
    assert m.pids() == [p.pid]
    with open(f"/proc/{p.pid}/cgroup") as f:
        lines = f.read().splitlines()
    suffix = m.path
    for ln in lines:
        assert ln.endswith(suffix), ln


BUSYBOX_SLEEP = "/bin/busybox"


def test_pids_limit_makes_eleventh_fork_fail(make_cgroup: MakeCg, procs: Procs) -> None:
    m = make_cgroup()
    m.set(res({"pids": {"limit": 10}}))
    code = ("import os, time\nn = 0\nfor i in range(15):\n    try:\n        pid = os.fork()\n"
            "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(60)\n"
            "        os._exit(0)\n    n += 1\nprint(n, flush=True)\ntime.sleep(60)\n")
    p = procs.gated(sys.executable, "-c", code)
    m.apply(p.pid)
    procs.release(p)
    assert p.stdout is not None
    forks = int(p.stdout.readline())
    assert forks == 9  # the parent + 9 children = 10; the 11th process could not be forked
    assert rd(m, "pids", "pids.current") == "10"


def test_memory_limit_oom_kills_and_is_reported(make_cgroup: MakeCg, procs: Procs) -> None:
    m = make_cgroup()
    m.set(res({"memory": {"limit": 32 << 20, "swap": 32 << 20}}))
    watcher = watch(m.memory_dir())
    assert watcher is not None
    with watcher:
        p = procs.gated(sys.executable, "-c", "b = b'x' * (200 << 20)")
        m.apply(p.pid)
        procs.release(p)
        assert p.wait(timeout=30) == -9
        deadline = time.monotonic() + 5
        n = 0
        while n == 0 and time.monotonic() < deadline:
            n = watcher.check()
            time.sleep(0.01)
        assert n >= 1
    assert "oom_kill 1" in rd(m, "memory", "memory.oom_control")


def test_freeze_stops_cpu_and_thaw_restarts_it(make_cgroup: MakeCg, procs: Procs) -> None:
    m = make_cgroup()
    p = procs.gated(BUSYBOX_SLEEP, "sh", "-c", "while :; do :; done")
    m.apply(p.pid)
    procs.release(p)
    time.sleep(0.2)
    m.freeze()
    assert m.freezer_state() == "frozen"
    assert from_state(m.to_state()).freezer_state() == "frozen"
    t0 = cpu_ticks(p.pid)
    time.sleep(0.5)
    assert cpu_ticks(p.pid) == t0
    m.thaw()
    assert m.freezer_state() == "thawed"
    time.sleep(0.5)
    assert cpu_ticks(p.pid) > t0


def test_destroy_removes_every_directory(procs: Procs) -> None:
    m = new_manager("t", f"{PREFIX}/destroy-{os.getpid()}")
    assert isinstance(m, V1Manager)
    m.create()
    p = procs.gated(BUSYBOX_SLEEP, "60")
    m.apply(p.pid)
    assert all(os.path.isdir(d) for d in m.dirs.values())
    p.kill()
    p.wait()
    m.destroy()
    assert not any(os.path.exists(d) for d in m.dirs.values())
    for mnt in ("memory", "pids", "cpu", "unified", "systemd", "freezer"):
        assert not os.path.exists(f"/sys/fs/cgroup/{mnt}{PREFIX}/destroy-{os.getpid()}")


def test_destroy_keeps_preexisting_parents(make_cgroup: MakeCg) -> None:
    outer = make_cgroup()  # creates /runcgo-test-cg/<a>
    inner = new_manager("t", outer.path + "/inner")
    assert isinstance(inner, V1Manager)
    inner.create()
    assert all(c.endswith("/inner") for c in inner.created)
    inner.destroy()
    assert outer.exists() and not inner.exists()


def test_destroy_removes_sub_cgroups_but_keeps_a_busy_one(make_cgroup: MakeCg,
                                                         procs: Procs) -> None:
    """Sub-cgroups made in the container's cgroup (by the container, a runtime
    nested in it) go with it, as with runc; one that still holds a process
    after the container's were killed survives, with its parents; the rest go."""
    m = make_cgroup()
    assert isinstance(m, V1Manager)
    for sub in ("a/b", "c"):
        os.makedirs(os.path.join(m.dirs["pids"], sub))
    theirs = os.path.join(m.dirs["memory"], "theirs")
    os.mkdir(theirs)
    p = procs.gated(BUSYBOX_SLEEP, "60")
    with open(os.path.join(theirs, "cgroup.procs"), "w") as f:
        f.write(str(p.pid))
    try:
        m.destroy()
        assert os.path.isdir(theirs)
        assert not os.path.exists(m.dirs["pids"])
    finally:
        procs.kill_all()
        for d in (theirs, m.dirs["memory"]):
            for _ in range(200):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.01)


def test_stats_shape(make_cgroup: MakeCg, procs: Procs) -> None:
    m = make_cgroup()
    m.set(res({"memory": {"limit": 64 << 20}, "pids": {"limit": 20}}))
    p = procs.gated(BUSYBOX_SLEEP, "60")
    m.apply(p.pid)
    procs.release(p)
    st = m.stats()
    assert st["memory"]["usage"]["limit"] == 64 << 20
    assert st["pids"] == {"current": 1, "limit": 20}
    assert "total" in st["cpu"]["usage"] and "throttling" in st["cpu"]
    json.dumps(st)


def test_v1_devices_enforced(make_cgroup: MakeCg) -> None:
    m = make_cgroup()
    m.set(res({"devices": [{"allow": False, "access": "rwm"},
                           {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]}))

    def probe() -> dict[str, int]:
        out = {}
        for dev in ("/dev/null", "/dev/zero"):
            try:
                os.close(os.open(dev, os.O_RDONLY))
                out[dev] = 0
            except OSError as e:
                out[dev] = e.errno or -1
        return out

    assert fork_in(m, probe) == {"/dev/null": 0, "/dev/zero": errno.EPERM}


def test_ebpf_device_program_on_cgroup2(make_cgroup: MakeCg) -> None:
    """The v2 device filter, exercised on this hybrid host's cgroup2 mount."""
    from runcgo.kernel.cgroups import devrules, ebpf

    m = make_cgroup()
    assert isinstance(m, V1Manager)
    udir = m.unified_dir()
    assert udir
    rules = devrules.container_rules(
        [LinuxDeviceCgroup(allow=False, access="rwm"),
         LinuxDeviceCgroup(allow=True, type="c", major=1, minor=11, access="r")], [])
    ebpf.apply_device_rules(udir, rules)

    def probe() -> dict[str, int]:
        out = {}
        for dev, flags in (("/dev/null", os.O_RDWR), ("/dev/kmsg", os.O_RDONLY),
                           ("/dev/kmsg:w", os.O_WRONLY), ("/dev/vda", os.O_RDONLY)):
            try:
                os.close(os.open(dev.split(":")[0], flags))
                out[dev] = 0
            except OSError as e:
                out[dev] = e.errno or -1
        return out

    got = fork_in(m, probe)
    # /dev/null is among runc's default-allowed devices; /dev/kmsg only readable.
    assert got == {"/dev/null": 0, "/dev/kmsg": 0, "/dev/kmsg:w": errno.EPERM,
                   "/dev/vda": errno.EPERM}
    # Replacing the policy detaches the old program (update).
    ebpf.apply_device_rules(udir, devrules.from_spec(
        [LinuxDeviceCgroup(allow=False, access="rwm")]))
    got = fork_in(m, probe)
    assert got == {"/dev/null": errno.EPERM, "/dev/kmsg": errno.EPERM,
                   "/dev/kmsg:w": errno.EPERM, "/dev/vda": errno.EPERM}


@pytest.mark.parametrize("via_fd", [False, True])
@pytest.mark.parametrize("readonly", [True, False])
def test_cgroup_mount_in_private_namespace(make_cgroup: MakeCg, tmp_path: Any,
                                           via_fd: bool, readonly: bool) -> None:
    m = make_cgroup()
    assert isinstance(m, V1Manager)
    m.set(res({"memory": {"limit": 48 << 20}}))
    target = tmp_path / "sys-fs-cgroup"
    target.mkdir()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            sc.unshare(sc.CLONE_NEWNS)
            sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
            fd = os.open(str(target), os.O_PATH | os.O_DIRECTORY)
            tgt = f"/proc/self/fd/{fd}" if via_fd else str(target)
            m.mount_in_container(tgt, readonly, sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, False)
            out: dict[str, Any] = {"names": sorted(os.listdir(target))}
            with open(target / "memory" / "memory.limit_in_bytes") as f:
                out["limit"] = f.read().strip()
            try:
                os.mkdir(target / "memory" / "x")
                os.rmdir(target / "memory" / "x")
                out["mkdir"] = 0
            except OSError as e:
                out["mkdir"] = e.errno
            try:
                os.mkdir(target / "extra")
                out["top"] = 0
            except OSError as e:
                out["top"] = e.errno
            os.write(w, json.dumps(out).encode())
        except BaseException as e:
            os.write(w, json.dumps({"error": repr(e)}).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    out = json.loads(data)
    assert "error" not in out, out
    assert out["names"] == sorted(m.dirs)
    assert out["limit"] == str(48 << 20)
    assert out["mkdir"] == (errno.EROFS if readonly else 0)
    assert out["top"] == (errno.EROFS if readonly else 0)
    # Nothing leaked into our namespace.
    assert os.listdir(target) == []


def test_kill_all_signals_every_process(make_cgroup: MakeCg, procs: Procs) -> None:
    m = make_cgroup()
    ps_ = [procs.gated(BUSYBOX_SLEEP, "sleep", "60") for _ in range(3)]
    for p in ps_:
        m.apply(p.pid)
        procs.release(p)
    m.kill_all(9)
    assert [p.wait(timeout=5) for p in ps_] == [-9, -9, -9]
    assert m.freezer_state() == "thawed"
    deadline = time.monotonic() + 5
    while m.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert m.pids() == []
