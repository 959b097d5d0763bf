"""cgroup behaviour a runc 1.1.5 user relies on, on real containers (v1/hybrid host).

Each test mirrors a case of runc's own integration suite (cgroups, delete, dev,
exec, update, ps and kill .bats) and checks the effect from the host -- the
cgroup directories, /proc/PID/cgroup, who is still alive -- and from inside.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import cgtree
import pytest

from harness import TEST_CG_PREFIX, Runcgo

CG = "/sys/fs/cgroup"
V1_ONLY = pytest.mark.skipif(not os.path.isdir(f"{CG}/freezer"), reason="needs cgroup v1")


def hierarchies() -> list[str]:
    """The name of every cgroup mount under /sys/fs/cgroup (the cgroup2 ``unified`` one
    too) -- not the plain directories an engine may have left on its tmpfs (conmon
    makes ``net_cls``, ``hugetlb``... that this host does not mount)."""
    return [os.path.basename(h) for h in cgtree.hierarchies()]


def cg_dirs(rel: str) -> list[str]:
    """The hierarchies in which the cgroup ``rel`` exists."""
    return [h for h in hierarchies() if os.path.isdir(f"{CG}/{h}/{rel}")]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(cond, timeout: float = 10) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(cond())


def read(path: str | Path) -> str:
    with open(path) as f:
        return f.read()


def proc_cgroup(pid: int | str) -> list[str]:
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read().splitlines()


def rel_path(cid: str) -> str:
    return f"{TEST_CG_PREFIX}{cid}"


def _bundle(runcgo: Runcgo, args: list[str], **edits: object) -> tuple[str, Path]:
    """As runc's suite makes them: `spec`'s default, so no cgroup namespace (the test
    harness adds one to every other bundle)."""
    cid, bundle = runcgo.bundle(args, **edits)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "cgroup"]
    (bundle / "config.json").write_text(json.dumps(cfg))
    return cid, bundle


@pytest.fixture
def sleeper(runcgo: Runcgo) -> Iterator[tuple[str, Path]]:
    cid, bundle = _bundle(runcgo, ["sleep", "300"])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    yield cid, bundle
    runcgo("delete", "-f", cid)


@V1_ONLY
def test_unified_resources_on_v1_are_an_invalid_configuration(runcgo: Runcgo) -> None:
    cid, bundle = _bundle(runcgo, ["true"], **{"linux.resources.unified": {"memory.min": "131072"}})
    r = runcgo("run", "-d", "--bundle", str(bundle), cid)
    assert r.returncode == 1
    assert "invalid configuration: cannot use unified on cgroup v1" in r.stderr
    assert cg_dirs(rel_path(cid)) == []
    assert runcgo("state", cid).returncode != 0


def test_default_spec_has_no_cgroup_namespace(runcgo: Runcgo, tmp_path: Path) -> None:
    runcgo("spec", "--bundle", str(tmp_path), check=True)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert [n["type"] for n in cfg["linux"]["namespaces"]] == [
        "pid", "network", "ipc", "uts", "mount"]


def test_exec_joins_the_container_cgroup_in_every_hierarchy(
        runcgo: Runcgo, sleeper: tuple[str, Path], tmp_path: Path) -> None:
    cid, _ = sleeper
    init = runcgo.state(cid)["pid"]
    want = proc_cgroup(init)
    assert all(line.endswith(":/" + rel_path(cid)) for line in want), want
    assert any(line.startswith("0::") for line in want) == os.path.isdir(f"{CG}/unified")
    runcgo("exec", "-d", "--pid-file", str(tmp_path / "p"), cid, "sleep", "100", check=True)
    assert proc_cgroup((tmp_path / "p").read_text()) == want
    # Without a cgroup namespace the container sees the host's paths: the same lines.
    inside = runcgo("exec", cid, "cat", "/proc/self/cgroup", check=True).stdout.splitlines()
    assert inside == want


@V1_ONLY
def test_exec_refuses_a_paused_container(runcgo: Runcgo, sleeper: tuple[str, Path],
                                         tmp_path: Path) -> None:
    cid, _ = sleeper
    runcgo("pause", cid, check=True)
    r = runcgo("exec", cid, "touch", "/tmp/ran", timeout=20)
    assert r.returncode == 255
    assert "cannot exec in a paused container" in r.stderr
    runcgo("resume", cid, check=True)
    assert runcgo("exec", cid, "ls", "/tmp").stdout == ""  # nothing ran


def test_warns_about_a_cgroup_that_already_holds_processes(
        runcgo: Runcgo, sleeper: tuple[str, Path]) -> None:
    _, bundle = sleeper
    cid2 = runcgo.new_id()
    r = runcgo("run", "-d", "--bundle", str(bundle), cid2, check=True)
    assert "container's cgroup is not empty: 1 process(es) found" in r.stderr
    cid3 = runcgo.new_id()
    r = runcgo("create", "--bundle", str(bundle), cid3, check=True)
    assert "container's cgroup is not empty: 2 process(es) found" in r.stderr


def test_containers_sharing_a_cgroup_path(runcgo: Runcgo, sleeper: tuple[str, Path]) -> None:
    """Two containers with one cgroupsPath, each with its own pid namespace.  Deleting
    the one that made the cgroup, once it has stopped, must not touch the other: its
    process lives on, the cgroup stays while it runs (a warning, exit 0: runc logs
    "Failed to remove cgroup" and goes on), and goes with the last one."""
    maker, bundle = sleeper
    other = runcgo.new_id()
    runcgo("run", "-d", "--bundle", str(bundle), other, check=True)
    other_pid = json.loads(runcgo("state", other, check=True).stdout)["pid"]
    runcgo("kill", maker, "KILL", check=True)
    assert wait_for(lambda: json.loads(runcgo("state", maker).stdout)["status"] == "stopped")
    r = runcgo("delete", maker)
    assert r.returncode == 0, r.stderr
    assert "not removed: 1 process(es) of another container are in it" in r.stderr
    assert alive(other_pid)
    assert json.loads(runcgo("state", other, check=True).stdout)["status"] == "running"
    assert cg_dirs(rel_path(maker)), "the cgroup went while a container still runs in it"
    assert all(str(other_pid) in read(f"{CG}/{h}/{rel_path(maker)}/cgroup.procs").split()
               for h in cg_dirs(rel_path(maker)))
    runcgo("delete", "-f", other, check=True)
    assert cg_dirs(rel_path(maker)) == []


@V1_ONLY
def test_refuses_a_pre_existing_frozen_cgroup(runcgo: Runcgo) -> None:
    cid, bundle = _bundle(runcgo, ["sleep", "300"])
    freezer = f"{CG}/freezer/{rel_path(cid)}"
    os.mkdir(freezer)
    try:
        with open(f"{freezer}/freezer.state", "w") as f:
            f.write("FROZEN")
        for cmd in ("run", "create"):
            args = [cmd, "-d"] if cmd == "run" else [cmd]
            r = runcgo(*args, "--bundle", str(bundle), cid, timeout=30)
            assert r.returncode == 1, r.stderr
            assert "container's cgroup unexpectedly frozen" in r.stderr
            # Nothing of ours is left; the frozen cgroup was not ours to remove.
            assert cg_dirs(rel_path(cid)) == ["freezer"]
            assert not read(f"{freezer}/cgroup.procs").strip()
            assert runcgo("state", cid).returncode != 0
    finally:
        with open(f"{freezer}/freezer.state", "w") as f:
            f.write("THAWED")
        os.rmdir(freezer)


@V1_ONLY
def test_delete_force_of_a_paused_container(runcgo: Runcgo) -> None:
    cid, bundle = _bundle(runcgo, ["sleep", "300"])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    pid = runcgo.state(cid)["pid"]
    runcgo("exec", "-d", cid, "sleep", "200", check=True)
    runcgo("pause", cid, check=True)
    t0 = time.monotonic()
    r = runcgo("delete", "--force", cid, timeout=30)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 5  # no waiting out a timeout on a frozen init
    assert wait_for(lambda: not alive(pid))
    assert cg_dirs(rel_path(cid)) == []
    assert runcgo("state", cid).returncode != 0


@V1_ONLY
def test_kill_of_a_paused_container_stops_it(runcgo: Runcgo, sleeper: tuple[str, Path]) -> None:
    cid, _ = sleeper
    pid = runcgo.state(cid)["pid"]
    runcgo("pause", cid, check=True)
    runcgo("kill", cid, "KILL", check=True)
    assert wait_for(lambda: not alive(pid), timeout=5)
    assert runcgo.state(cid)["status"] == "stopped"
    assert read(f"{CG}/freezer/{rel_path(cid)}/freezer.state").strip() == "THAWED"


@V1_ONLY
def test_delete_force_removes_sub_cgroups_made_inside(runcgo: Runcgo) -> None:
    cid, bundle = _bundle(runcgo, ["sleep", "300"])
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["linux"]["namespaces"].append({"type": "cgroup"})
    for m in cfg["mounts"]:
        if m["type"] == "cgroup":
            m["options"] = [o for o in m["options"] if o != "ro"]
    (bundle / "config.json").write_text(json.dumps(cfg))
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    r = runcgo("exec", cid, "sh", "-euc", "sleep 1d & "
               "for s in memory freezer; do mkdir /sys/fs/cgroup/$s/foo; "
               "echo $! > /sys/fs/cgroup/$s/foo/tasks; done; cat /sys/fs/cgroup/memory/foo/tasks",
               check=True)
    inner_pid = int(r.stdout.split()[0])
    host_pids = [int(p) for p in read(f"{CG}/memory/{rel_path(cid)}/foo/cgroup.procs").split()]
    assert len(host_pids) == 1 and inner_pid
    assert sorted(cg_dirs(rel_path(cid) + "/foo")) == ["freezer", "memory"]
    runcgo("delete", "--force", cid, check=True)
    assert wait_for(lambda: not alive(host_pids[0]))
    assert cg_dirs(rel_path(cid)) == []
    assert runcgo("state", cid).returncode != 0


def test_device_rules_deny_a_node_from_linux_devices(runcgo: Runcgo) -> None:
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYSLOG"]
    cid, bundle = _bundle(runcgo, ["sleep", "300"], **{
        "linux.resources.devices": [{"allow": False, "access": "rwm"}],
        "linux.devices": [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}],
        "process.capabilities": {k: caps for k in ("bounding", "effective", "permitted")}})
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    for _ in range(2):
        r = runcgo("exec", cid, "sh", "-c", "hostname | tee /dev/kmsg")
        assert r.returncode == 1 and "Operation not permitted" in r.stderr
        r = runcgo("exec", cid, "sh", "-c", "head -n 1 /dev/kmsg")
        assert r.returncode == 1 and "Operation not permitted" in r.stderr
        assert runcgo("exec", cid, "sh", "-c", "echo x > /dev/null").returncode == 0
        runcgo("update", "--pids-limit", "42", cid, check=True)
    assert "c 1:11" not in read(f"{CG}/devices/{rel_path(cid)}/devices.list")


@V1_ONLY
def test_update_of_device_rules_never_takes_away_kept_devices(runcgo: Runcgo) -> None:
    """The container writes to /dev/null all the time; if an update ever passes
    through "deny all", the shell's redirection fails and says so on stderr."""
    deny = [{"allow": False, "access": "rwm"},
            {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "rwa"}]
    cid, bundle = _bundle(runcgo,
        ["sh", "-c", "while true; do head -c 100 /dev/kmsg 2>/dev/null; echo x >/dev/null; done"],
        **{"linux.resources.devices": deny,
           "linux.devices": [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]})
    out = bundle / "out"
    with open(out, "w") as f:
        import subprocess

        from harness import runcgo_cmd
        subprocess.run([*runcgo_cmd(), "--root", str(runcgo.root), "run", "-d", "--bundle",
                        str(bundle), cid], stdout=f, stderr=f, stdin=subprocess.DEVNULL, check=True)
    resources = json.dumps({"devices": [*deny, {"allow": True, "type": "c", "major": 1,
                                                "minor": 3, "access": "rwm"}]})
    for i in range(30):
        runcgo("update", "--pids-limit", str(30 + i), cid, check=True)
        runcgo("update", "--resources", "-", cid, input=resources, check=True)
    time.sleep(0.2)
    assert out.read_text() == ""
    # The update's rules replace the container's (its "deny all" included).
    assert read(f"{CG}/devices/{rel_path(cid)}/devices.list") == "c 1:3 rwm\n"


@V1_ONLY
def test_exec_into_sub_cgroups(runcgo: Runcgo) -> None:
    cid, bundle = _bundle(runcgo, ["sleep", "300"])
    cfg = json.loads((bundle / "config.json").read_text())
    for m in cfg["mounts"]:
        if m["type"] == "cgroup":
            m["options"] = [o for o in m["options"] if o != "ro"]
    (bundle / "config.json").write_text(json.dumps(cfg))
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    rel = "/" + rel_path(cid)

    def cgroups_of(*flags: str) -> list[str]:
        r = runcgo("exec", *flags, cid, "cat", "/proc/self/cgroup")
        assert r.returncode == 0, r.stderr
        return r.stdout.splitlines()

    for bad, words in (("..", " .. is not a sub cgroup path"),
                       ("memory:/a/../..", "/a/../.. is not a sub cgroup path"),
                       ("whaaat:/", "unknown controller whaaat"),
                       ("nonexistent", "/nonexistent/cgroup.procs: no such file"),
                       ("cpu:nonexistent", "/cpu/" + rel_path(cid) + "/nonexistent/cgroup.procs")):
        r = runcgo("exec", "--cgroup", bad, cid, "true")
        assert r.returncode != 0 and words in r.stderr, (bad, r.stderr)
        if "nonexistent" in bad:
            assert " adding pid " in r.stderr
    assert all(line.endswith(":" + rel) for line in cgroups_of())
    assert all(line.endswith(":" + rel) for line in cgroups_of("--cgroup", "/"))
    runcgo("exec", cid, "mkdir", "-p", "/sys/fs/cgroup/memory/submem",
           "/sys/fs/cgroup/cpu/subcpu", "/sys/fs/cgroup/cpuacct/subcpu", check=True)
    lines = cgroups_of("--cgroup", "memory:submem", "--cgroup", "cpu,cpuacct:subcpu")
    assert any(ln.endswith(f":memory:{rel}/submem") for ln in lines), lines
    assert any(":cpu" in ln and ln.endswith(f":{rel}/subcpu") for ln in lines), lines
    assert any(ln.endswith(f":pids:{rel}") for ln in lines), lines
    # The last word for a controller wins.
    lines = cgroups_of("--cgroup", "memory:submem", "--cgroup", "memory:/")
    assert any(ln.endswith(f":memory:{rel}") for ln in lines), lines
    # delete takes the sub-cgroups the container made along.
    runcgo("delete", "-f", cid, check=True)
    assert cg_dirs(rel_path(cid)) == []


@V1_ONLY
def test_update_cpu_period_in_a_pod_cgroup_with_a_limit(runcgo: Runcgo) -> None:
    cid, bundle = _bundle(runcgo, ["sleep", "300"], **{
        "linux.resources.cpu": {"shares": 100, "quota": 500000, "period": 1000000}})
    pod = rel_path(cid) + "-pod"
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["linux"]["cgroupsPath"] = f"/{pod}/ct"
    (bundle / "config.json").write_text(json.dumps(cfg))
    # The pod cgroup is someone else's (mkdir -p in every hierarchy: empty cpuset).
    made = [f"{CG}/{h}/{pod}" for h in hierarchies() if h != "unified"]
    for d in made:
        os.makedirs(d, exist_ok=True)
    try:
        with open(f"{CG}/cpu/{pod}/cpu.cfs_quota_us", "w") as f:
            f.write("50000")  # 50% of the default 100 ms period
        r = runcgo("run", "-d", "--bundle", str(bundle), cid)
        assert r.returncode == 0, r.stderr
        assert read(f"{CG}/cpuset/{pod}/ct/cpuset.cpus").strip()
        r = runcgo("update", "--cpu-quota", "600000", cid)  # 60% of its 1 s period
        assert r.returncode == 1
        r = runcgo("update", "--cpu-period", "10000", "--cpu-quota", "3000", cid)
        assert r.returncode == 0, r.stderr
        assert read(f"{CG}/cpu/{pod}/ct/cpu.cfs_period_us").strip() == "10000"
        assert read(f"{CG}/cpu/{pod}/ct/cpu.cfs_quota_us").strip() == "3000"
        runcgo("delete", "-f", cid, check=True)
        assert not os.path.exists(f"{CG}/cpu/{pod}/ct")
    finally:
        runcgo("delete", "-f", cid)
        cgtree.remove_tree(pod)  # every hierarchy, even when one rmdir fails


def test_ps_and_kill_all_after_the_container_stopped(runcgo: Runcgo,
                                                     sleeper: tuple[str, Path]) -> None:
    cid, _ = sleeper
    assert runcgo("ps", cid, check=True).stdout.count("\n") == 2
    runcgo("kill", cid, "KILL", check=True)
    assert wait_for(lambda: runcgo.state(cid)["status"] == "stopped")
    r = runcgo("ps", cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].split()[:2] == ["UID", "PID"] and r.stdout.count("\n") == 1
    assert runcgo("ps", "-f", "json", cid, check=True).stdout.strip() == "null"
    assert runcgo("kill", "-a", cid, "0").returncode == 0
    r = runcgo("kill", cid, "0")
    assert r.returncode == 1 and "container not running" in r.stderr
    runcgo("delete", cid, check=True)


def test_signal_zero_checks_a_running_container(runcgo: Runcgo,
                                                sleeper: tuple[str, Path]) -> None:
    cid, _ = sleeper
    runcgo("kill", cid, "0", check=True)
    assert runcgo.state(cid)["status"] == "running"
