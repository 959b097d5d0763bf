"""cgroup commands through the CLI on real containers: resources, pause, update, ps, events."""

from __future__ import annotations

import json
import os
import time

from harness import TEST_CG_PREFIX, Runcgo

CG = "/sys/fs/cgroup"


def cg_file(ctrl: str, cid: str, name: str) -> str:
    with open(os.path.join(CG, ctrl, TEST_CG_PREFIX + cid, name)) as f:
        return f.read().strip()


def test_resources_applied_and_seen_inside(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(
        ["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
                     "/sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares; sleep 30"],
        **{"linux.resources": {"memory": {"limit": 64 << 20}, "pids": {"limit": 20},
                               "cpu": {"quota": 50000, "period": 100000, "shares": 512},
                               "devices": [{"allow": False, "access": "rwm"}]}})
    out = bundle / "out"
    with open(out, "w") as f:
        import subprocess

        from harness import runcgo_cmd
        subprocess.run([*runcgo_cmd(), "--root", str(runcgo.root), "run", "-d", "--bundle",
                        str(bundle), cid], stdout=f, stderr=f, stdin=subprocess.DEVNULL, check=True)
    assert cg_file("memory", cid, "memory.limit_in_bytes") == str(64 << 20)
    assert cg_file("pids", cid, "pids.max") == "20"
    assert cg_file("cpu", cid, "cpu.cfs_quota_us") == "50000"
    pid = runcgo.state(cid)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        assert f"memory:/{TEST_CG_PREFIX}{cid}" in f.read()
    deadline = time.monotonic() + 5
    while len(out.read_text().split()) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.read_text().split() == [str(64 << 20), "20", "50000", "512"]
    runcgo("delete", "-f", cid, check=True)
    assert not os.path.exists(os.path.join(CG, "memory", TEST_CG_PREFIX + cid))


def test_pids_limit_stops_the_11th_fork(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 60 & done; "
                                             "echo done; wait"],
                                **{"linux.resources": {"pids": {"limit": 10}}})
    out = bundle / "out"
    import subprocess

    from harness import runcgo_cmd
    with open(out, "w") as f:
        subprocess.run([*runcgo_cmd(), "--root", str(runcgo.root), "run", "-d", "--bundle",
                        str(bundle), cid], stdout=f, stderr=f, stdin=subprocess.DEVNULL, check=True)
    deadline = time.monotonic() + 10
    while "fork" not in out.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    # sh + 9 sleeps fill the limit; the 10th fork is refused by the pids controller
    assert "can't fork" in out.read_text(), out.read_text()
    assert int(cg_file("pids", cid, "pids.events").split()[-1]) >= 1  # "max N": refused forks
    runcgo("delete", "-f", cid, check=True)


def test_pause_resume_update_ps(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sh", "-c", "sleep 300 & sleep 300"],
                                **{"linux.resources": {"memory": {"limit": 64 << 20}}})
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    deadline = time.monotonic() + 10  # until the shell has started both sleeps
    while len(cg_file("pids", cid, "cgroup.procs").split()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    runcgo("pause", cid, check=True)
    assert runcgo.state(cid)["status"] == "paused"
    assert cg_file("freezer", cid, "freezer.state") == "FROZEN"
    listing = json.loads(runcgo("list", "--format", "json", check=True).stdout)
    assert listing[0]["status"] == "paused"
    runcgo("resume", cid, check=True)
    assert runcgo.state(cid)["status"] == "running"
    runcgo("update", "--memory", "96m", "--pids-limit", "30", cid, check=True)
    assert cg_file("memory", cid, "memory.limit_in_bytes") == str(96 << 20)
    assert cg_file("pids", cid, "pids.max") == "30"
    # runc's --cpu-share and Docker's --cpu-shares spelling; a size flag's bad value
    runcgo("update", "--cpu-share", "300", cid, check=True)
    assert cg_file("cpu", cid, "cpu.shares") == "300"
    runcgo("update", "--cpu-shares", "400", "--cpuset-cpus", "0", cid, check=True)
    assert cg_file("cpu", cid, "cpu.shares") == "400"
    assert cg_file("cpuset", cid, "cpuset.cpus") == "0"
    r = runcgo("update", "--memory", "lots", cid)
    assert r.returncode == 1 and "invalid value 'lots' for --memory" in r.stderr
    # Docker's update: JSON on stdin, zero means leave unchanged
    r = runcgo("update", "--resources", "-", cid,
               input='{"memory":{"limit":100663296,"reservation":0,"swap":201326592,"kernel":0},'
                     '"cpu":{"shares":0,"quota":0,"period":0},"blockIO":{"weight":0}}')
    assert r.returncode == 0, r.stderr
    assert cg_file("memory", cid, "memory.limit_in_bytes") == "100663296"
    pids = json.loads(runcgo("ps", "--format", "json", cid, check=True).stdout)
    assert sorted(pids) == sorted(int(p) for p in cg_file("pids", cid, "cgroup.procs").split())
    assert len(pids) == 2
    table = runcgo("ps", cid, check=True).stdout.splitlines()
    assert table[0].split()[:2] == ["UID", "PID"] and len(table) == 3
    runcgo("kill", "--all", cid, "KILL", check=True)
    deadline = time.monotonic() + 5
    while runcgo.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    runcgo("delete", cid, check=True)


def test_oom_kill_and_events(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sleep", "60"],
                                **{"linux.resources": {"memory": {"limit": 32 << 20, "swap": 32 << 20}}})
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    stats = json.loads(runcgo("events", "--stats", cid, check=True).stdout)
    assert stats["type"] == "stats" and stats["data"]["memory"]["usage"]["limit"] == 32 << 20
    import subprocess

    from harness import runcgo_cmd
    with subprocess.Popen([*runcgo_cmd(), "--root", str(runcgo.root), "events", "--interval", "1s",
                           cid], stdout=subprocess.PIPE, text=True) as ev:
        assert ev.stdout is not None
        # The first line (a stats event) comes after the OOM watch is armed.
        seen = [json.loads(ev.stdout.readline())]
        r = runcgo("exec", cid, "sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived")
        assert "survived" not in r.stdout
        assert r.returncode == 137
        oom = dict(ln.split() for ln in cg_file("memory", cid, "memory.oom_control").splitlines())
        assert int(oom["oom_kill"]) >= 1  # the shell, and sometimes head/tr as well
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = ev.stdout.readline()
            if not line:
                break
            seen.append(json.loads(line))
            if any(e["type"] == "oom" for e in seen):
                break
        ev.kill()
    assert any(e["type"] == "oom" and e["id"] == cid for e in seen), seen
    runcgo("delete", "-f", cid, check=True)


def test_kill_all_is_implied_with_the_hosts_pid_namespace(runcgo: Runcgo) -> None:
    """--pid=host (no pid namespace): killing the init alone would orphan the rest, so
    kill signals every process in the cgroup, as runc does."""
    cid, bundle = runcgo.bundle(["sh", "-c", "sleep 300 & exec sleep 301"])
    runcgo.edit(bundle, "linux.namespaces", [{"type": t} for t in ("mount", "ipc", "uts", "network")])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    deadline = time.monotonic() + 10
    while len(cg_file("pids", cid, "cgroup.procs").split()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = [int(p) for p in cg_file("pids", cid, "cgroup.procs").split()]
    assert len(pids) == 2
    init = runcgo.state(cid)["pid"]
    assert os.readlink(f"/proc/{init}/ns/pid") == os.readlink("/proc/self/ns/pid")
    runcgo("kill", cid, "KILL", check=True)
    deadline = time.monotonic() + 10
    while cg_file("pids", cid, "cgroup.procs").split() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cg_file("pids", cid, "cgroup.procs").split() == []  # the background sleep too
    runcgo("delete", cid, check=True)
