"""Unit tests without root: conversions, rule handling, path logic, the v2
file-writing logic against a fake cgroupfs tree, systemd path parsing and the
update-flag merge.  (Real v2 runs in the VM tier.)"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from runcgo._struct import decode as _sdecode
from runcgo.kernel.cgroups import CgroupError, convert, devrules, ebpf, paths, systemd
from runcgo.kernel.cgroups.v2 import V2Manager, from_state_v2
from runcgo.ops.ps import filter_ps_table
from runcgo.ops.update import parse_bytes, resources_from_flags
from runcgo.spec import LinuxDevice, LinuxDeviceCgroup, LinuxResources

V2_FILES = ["cgroup.procs", "cgroup.freeze", "cgroup.events", "cgroup.controllers",
            "cgroup.subtree_control", "memory.max", "memory.swap.max", "memory.low",
            "memory.current", "cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle",
            "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight", "io.max",
            "hugetlb.2MB.max", "rdma.max", "memory.high"]


def res(d: dict[str, Any]) -> LinuxResources:
    return _sdecode(json.dumps(d), LinuxResources)


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    d = tmp_path / "cg"
    d.mkdir()
    for name in V2_FILES:
        (d / name).write_text("")
    (d / "cpu.max").write_text("max 100000\n")
    return d


def rd(d: Path, name: str) -> str:
    return (d / name).read_text().strip()


def set_v2(d: Path, r: LinuxResources) -> None:
    from runcgo.kernel.cgroups import v2_resources

    v2_resources.set_all(str(d), r, fake=True)


def test_conversions_match_runc() -> None:
    assert convert.shares_to_weight(2) == 1
    assert convert.shares_to_weight(1024) == 39
    assert convert.shares_to_weight(262144) == 10000
    assert convert.shares_to_weight(0) == 0
    assert convert.blkio_to_io_weight(10) == 1
    assert convert.blkio_to_io_weight(1000) == 10000
    assert convert.blkio_to_io_weight(500) == 4950
    assert convert.swap_to_v2(200, 100) == 100
    assert convert.swap_to_v2(-1, 100) == -1
    assert convert.swap_to_v2(None, -1) == -1
    assert convert.swap_to_v2(0, 100) is None
    with pytest.raises(CgroupError, match="must be >="):
        convert.swap_to_v2(50, 100)
    with pytest.raises(CgroupError, match="without a memory limit"):
        convert.swap_to_v2(50, None)


def test_v2_resources_written(fake: Path) -> None:
    set_v2(fake, res({
        "memory": {"limit": 64 << 20, "swap": 96 << 20, "reservation": 1 << 20},
        "cpu": {"shares": 1024, "quota": 50000, "burst": 100, "cpus": "0-1", "mems": "0",
                "idle": 1},
        "pids": {"limit": 10},
        "blockIO": {"weight": 500},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 8 << 20}],
        "rdma": {"mlx5_0": {"hcaHandles": 3}},
        "unified": {"memory.high": "50000000"},
    }))
    assert rd(fake, "memory.max") == str(64 << 20)
    assert rd(fake, "memory.swap.max") == str(32 << 20)
    assert rd(fake, "memory.low") == str(1 << 20)
    assert rd(fake, "cpu.weight") == "39"
    assert rd(fake, "cpu.max") == "50000 100000"  # period kept from the current value
    assert rd(fake, "cpu.max.burst") == "100"
    assert rd(fake, "cpu.idle") == "1"
    assert rd(fake, "cpuset.cpus") == "0-1"
    assert rd(fake, "cpuset.mems") == "0"
    assert rd(fake, "pids.max") == "10"
    assert rd(fake, "io.weight") == "4950"
    assert rd(fake, "hugetlb.2MB.max") == str(8 << 20)
    assert rd(fake, "rdma.max") == "mlx5_0 hca_handle=3 hca_object=max"
    assert rd(fake, "memory.high") == "50000000"


def test_v2_zero_means_unchanged_and_unlimited(fake: Path) -> None:
    set_v2(fake, res({"memory": {"limit": 64 << 20}, "cpu": {"quota": 20000, "period": 50000},
                      "pids": {"limit": 10}}))
    set_v2(fake, res({"memory": {"limit": 0, "reservation": 0}, "cpu": {"shares": 0, "quota": 0,
                                                                       "period": 0},
                      "blockIO": {"weight": 0}, "pids": {"limit": 0}}))
    assert rd(fake, "memory.max") == str(64 << 20)
    assert rd(fake, "cpu.max") == "20000 50000"
    assert rd(fake, "pids.max") == "10"
    assert rd(fake, "cpu.weight") == ""
    set_v2(fake, res({"cpu": {"period": 200000}}))
    assert rd(fake, "cpu.max") == "20000 200000"
    set_v2(fake, res({"memory": {"limit": -1}, "pids": {"limit": -1}, "cpu": {"quota": -1}}))
    assert rd(fake, "memory.max") == "max"
    assert rd(fake, "memory.swap.max") == "max"
    assert rd(fake, "pids.max") == "max"
    assert rd(fake, "cpu.max") == "max 200000"


def test_v2_io_throttle(fake: Path) -> None:
    set_v2(fake, res({"blockIO": {"throttleWriteIOPSDevice": [{"major": 8, "minor": 0,
                                                              "rate": 300}]}}))
    assert rd(fake, "io.max") == "8:0 wiops=300"


def test_v2_errors_name_the_resource(fake: Path) -> None:
    (fake / "hugetlb.2MB.max").unlink()
    (fake / "memory.swap.max").unlink()
    with pytest.raises(CgroupError, match=r"hugepageLimits\[2MB\]"):
        set_v2(fake, res({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}))
    with pytest.raises(CgroupError, match=r"memory\.swap"):
        set_v2(fake, res({"memory": {"limit": 100, "swap": 200}}))
    with pytest.raises(CgroupError, match="realtime"):
        set_v2(fake, res({"cpu": {"realtimeRuntime": 1}}))
    with pytest.raises(CgroupError, match="unified"):
        set_v2(fake, res({"unified": {"../escape": "1"}}))
    with pytest.raises(CgroupError, match=r"io\.latency"):
        set_v2(fake, res({"unified": {"io.latency": "1"}}))
    (fake / "memory.current").write_text("5000\n")
    with pytest.raises(CgroupError, match="below current usage"):
        set_v2(fake, res({"memory": {"limit": 4096, "checkBeforeUpdate": True}}))


def test_v2_manager_on_fake_tree(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    m = V2Manager("/a/b", str(root / "a" / "b"), str(root))
    m.create()
    assert (root / "a" / "b").is_dir()
    assert m.created == [str(root / "a"), str(root / "a" / "b")]
    assert rd(root, "cgroup.subtree_control") == "+cpu +memory +pids"
    d = root / "a" / "b"
    (d / "cgroup.freeze").write_text("0")
    (d / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    (d / "cgroup.procs").write_text("")
    m.freeze()
    assert m.freezer_state() == "frozen"
    m2 = from_state_v2(json.loads(json.dumps(m.to_state())))
    assert m2.freezer_state() == "frozen" and m2.created == m.created
    (d / "cgroup.procs").write_text("12\n7\n")
    (d / "sub").mkdir()
    (d / "sub" / "cgroup.procs").write_text("99\n")
    assert m.pids() == [7, 12, 99]
    m.apply(42)
    assert rd(d, "cgroup.procs") == "42"
    st = m.stats()
    assert set(st) >= {"cpu", "memory", "pids", "blkio", "hugetlb"}


def test_device_rules() -> None:
    rules = devrules.container_rules(
        [LinuxDeviceCgroup(allow=False, access="rwm"),
         LinuxDeviceCgroup(allow=True, type="c", major=10, minor=200, access="rw")],
        [LinuxDevice(path="/dev/fuse", type="c", major=10, minor=229)])
    assert rules[0].v1_line() == "a"
    assert rules[1].v1_line() == "c 10:200 rw"
    # As in runc 1.1.5, a node in linux.devices is created but not thereby allowed.
    assert not any(r.major == 10 and r.minor == 229 for r in rules)
    assert devrules.Rule(True, "c", 1, 3, "rwm") in rules  # runc's default /dev/null
    assert devrules.Rule(True, "c", 10, 200, "rwm") in rules  # and /dev/net/tun
    assert not any(r.major == 5 and r.minor == 1 for r in rules)  # not the host's console
    default, exc = devrules.effective(rules)
    assert default is False and len(exc) == len(rules) - 1
    # Letters other than r, w, m are dropped, as runc does ("rwa" is in its tests) ...
    assert devrules.from_spec([LinuxDeviceCgroup(allow=True, access="rx")])[0].access == "r"
    # ... but a rule must grant or deny something.
    with pytest.raises(CgroupError, match="invalid access"):
        devrules.from_spec([LinuxDeviceCgroup(allow=True, access="x")])
    with pytest.raises(CgroupError, match="invalid type"):
        devrules.from_spec([LinuxDeviceCgroup(allow=True, type="x")])
    # No linux.devices (update): no defaults added.
    assert devrules.container_rules(None, None) == []


def _rules(*spec: dict[str, object]) -> list[devrules.Rule]:
    return devrules.from_spec([LinuxDeviceCgroup(**d) for d in spec])  # type: ignore[arg-type]


DENY_ALL = {"allow": False, "access": "rwm"}


def test_device_transition_between_deny_states_is_minimal() -> None:
    """update must never pass through "deny all": only the differences are written."""
    cur = devrules.parse_list("c 1:3 rwm\nc 1:5 rwm\nc 136:* rwm\n")
    assert cur is not None and cur.default_allow is False
    rules = _rules(DENY_ALL, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                   {"allow": True, "type": "c", "major": 136, "access": "rw"},
                   {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "r"})
    assert devrules.transition(cur, rules) == [
        (True, "c 1:11 r"), (False, "c 1:5 rwm"), (False, "c 136:* m")]
    # The same rules again: nothing to write at all.
    after = devrules.parse_list("c 1:3 rwm\nc 136:* rw\nc 1:11 r\n")
    assert devrules.transition(after, rules) == []
    # A deny rule under "deny all" changes nothing (runc's "rwa" rule).
    assert devrules.transition(after, [*rules, *_rules(
        {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "rwa"})]) == [
        (False, "c 1:11 r")]


def test_device_transition_from_allow_all_resets() -> None:
    # An allow-by-default cgroup lists only "a *:* rwm": its exceptions are unknown.
    assert devrules.parse_list("a *:* rwm\n") is None
    rules = _rules(DENY_ALL, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"})
    assert devrules.transition(None, rules) == [(False, "a"), (True, "c 1:3 rwm")]
    # To allow-by-default with an exception: reset to allow, then deny.
    rules = _rules({"allow": True, "access": "rwm"},
                   {"allow": False, "type": "b", "major": 8, "access": "w"})
    cur = devrules.parse_list("c 1:3 rwm\n")
    assert devrules.transition(cur, rules) == [(True, "a"), (False, "b 8:* w")]
    # No reset and unknown state: the rules as given.
    one = _rules({"allow": False, "type": "c", "major": 1, "minor": 11, "access": "rw"})
    assert devrules.transition(None, one) == [(False, "c 1:11 rw")]


def test_ebpf_program_shape() -> None:
    prog = ebpf.compile_rules(devrules.from_spec([
        LinuxDeviceCgroup(allow=False, access="rwm"),
        LinuxDeviceCgroup(allow=True, type="c", major=1, minor=3, access="rwm")]))
    insns = [struct.unpack("<BBhi", prog[i:i + 8]) for i in range(0, len(prog), 8)]
    assert insns[-1][0] == 0x95 and insns[-2] == (0xB7, 0, 0, 0)  # default: deny
    # The one rule: type, major, minor checks jumping past its own "allow; exit".
    body = insns[6:-2]
    assert [i[0] for i in body] == [0x55, 0x55, 0x55, 0xB7, 0x95]
    assert [i[2] for i in body[:3]] == [4, 3, 2]
    assert body[3][3] == 1


def test_mountinfo_parsing(tmp_path: Path) -> None:
    mi = tmp_path / "mountinfo"
    mi.write_text(
        "30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
        "31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n"
        "32 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "33 30 0:29 /docker/x /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "34 30 0:30 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd,"
        "release_agent=/x\n"
        "35 25 0:31 / /mnt/other rw - cgroup cgroup rw,pids\n")
    hs = paths.hierarchies(str(mi))
    names = {h.name: h.controllers for h in hs}
    assert names["cpu,cpuacct"] == ["cpu", "cpuacct"]
    assert names["systemd"] == ["name=systemd"]
    assert "other" not in names
    assert paths.mode(hs) == "hybrid"
    mem = next(h for h in hs if h.name == "memory")
    own = {"memory": "/docker/x/sub", "": "/"}
    assert paths.hierarchy_dir(mem, "c1", own) == "/sys/fs/cgroup/memory/sub/c1"
    assert paths.hierarchy_dir(mem, "/abs/../c1", own) == "/sys/fs/cgroup/memory/c1"
    uni = next(h for h in hs if h.version == 2)
    assert paths.hierarchy_dir(uni, "c1", {"": "/user.slice/session-1.scope"},
                               parent_of_own=True) == "/sys/fs/cgroup/unified/user.slice/c1"


def test_systemd_paths_and_properties() -> None:
    assert systemd.parse_path("id", None) == ("system.slice", "runc-id.scope")
    assert systemd.parse_path("id", "machine.slice:libpod:abc") == ("machine.slice",
                                                                    "libpod-abc.scope")
    with pytest.raises(CgroupError, match="slice:prefix:name"):
        systemd.parse_path("id", "/abs/path")
    assert systemd.expand_slice("a-b-c.slice") == "/a.slice/a-b.slice/a-b-c.slice"
    assert systemd.expand_slice("-.slice") == "/"
    with pytest.raises(CgroupError):
        systemd.expand_slice("a--b.slice")
    props = dict(systemd.unit_properties(res({"memory": {"limit": 1 << 20},
                                              "cpu": {"shares": 1024, "quota": 25000,
                                                      "period": 100000, "cpus": "0-2,4"},
                                              "pids": {"limit": -1}}), v2=True))
    assert props["MemoryMax"] == ("t", 1 << 20)
    assert props["CPUWeight"] == ("t", 39)
    assert props["CPUQuotaPerSecUSec"] == ("t", 250000)
    assert props["AllowedCPUs"] == ("ay", bytes([0b10111]))
    assert props["TasksMax"] == ("t", 2**64 - 1)


@pytest.mark.skipif(os.path.isdir("/run/systemd/system"), reason="systemd is running")
def test_systemd_driver_without_systemd_is_a_clear_error() -> None:
    from runcgo.kernel.cgroups import new_manager

    with pytest.raises(CgroupError, match="systemd is not running"):
        new_manager("id", "system.slice:runc:id", systemd=True)


def test_update_flags_merge() -> None:
    base = res({"memory": {"limit": 1 << 20}, "cpu": {"shares": 100}})
    r = resources_from_flags(base, {"--memory-swap": "2g", "--cpu-quota": "-1",
                                    "--cpuset-mems": "0", "--pids-limit": "-1",
                                    "--blkio-weight": 300, "--memory-reservation": "512k",
                                    "--memory": None})
    assert r.memory is not None and r.cpu is not None and r.pids is not None
    assert (r.memory.limit, r.memory.swap, r.memory.reservation) == (1 << 20, 2 << 30, 512 << 10)
    assert (r.cpu.shares, r.cpu.quota, r.cpu.mems) == (100, -1, "0")
    assert r.pids.limit == -1
    assert r.block_io is not None and r.block_io.weight == 300
    assert resources_from_flags() == LinuxResources()
    assert parse_bytes("1.5g") == 3 << 29
    assert parse_bytes("100MiB") == 100 << 20
    assert parse_bytes("-1") == -1
    for bad in ("abc", "-2", "1x"):
        with pytest.raises(Exception, match="invalid value"):
            parse_bytes(bad, "--memory")


def test_ps_table_filter() -> None:
    out = ("UID  PID  PPID  C STIME TTY TIME CMD\n"
           "root 1    0     0 10:00 ?   0:01 init\n"
           "root 42   1     0 10:00 ?   0:00 sleep 60\n"
           "root 420  1     0 10:00 ?   0:00 other\n")
    got = filter_ps_table(out, [42])
    assert got.splitlines() == [out.splitlines()[0], out.splitlines()[2]]
    with pytest.raises(ValueError, match="PID"):
        filter_ps_table("USER CMD\n", [1])


def test_exec_sub_cgroup_paths() -> None:
    """exec --cgroup: a path at or below the container's cgroup, never above."""
    base = "/sys/fs/cgroup/memory/pod/ct"
    assert paths.sub_dir(base, "/") == base
    assert paths.sub_dir(base, "a/b") == base + "/a/b"
    assert paths.sub_dir(base, "/a/../b") == base + "/b"
    for bad in ("..", "../x", "/a/../.."):
        with pytest.raises(CgroupError, match=f"^{bad} is not a sub cgroup path$"):
            paths.sub_dir(base, bad)


def test_v1_sub_manager_per_controller_and_for_all() -> None:
    from runcgo.kernel.cgroups.v1 import V1Manager

    m = V1Manager("/ct", {"memory": "/cg/memory/ct", "cpu,cpuacct": "/cg/cpu,cpuacct/ct",
                          "systemd": "/cg/systemd/ct", "unified": "/cg/unified/ct"},
                  {"memory": ["memory"], "cpu,cpuacct": ["cpu", "cpuacct"],
                   "systemd": ["name=systemd"], "unified": []}, ["/cg/memory/ct"])
    s = m.sub({"memory": "a", "cpu": "b", "systemd": "/"})
    assert s.dirs == {"memory": "/cg/memory/ct/a", "cpu,cpuacct": "/cg/cpu,cpuacct/ct/b",
                      "systemd": "/cg/systemd/ct", "unified": "/cg/unified/ct"}
    assert s.created == []  # a sub-manager never removes anything
    assert set(m.sub({"": "x"}).dirs.values()) == {d + "/x" for d in m.dirs.values()}
    with pytest.raises(CgroupError, match="unknown controller whaaat"):
        m.sub({"whaaat": "/"})
    v2 = V2Manager("/ct", "/cg/ct", "/cg")
    assert v2.sub({"": "x"}).dir == "/cg/ct/x"
    with pytest.raises(CgroupError, match="unknown controller memory"):
        v2.sub({"memory": "x"})
