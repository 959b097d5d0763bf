"""Rootless scenarios, each run by the unprivileged user with runc and with runcgo.

runc 1.1.5's behaviour is the expectation; where runcgo deliberately does
better (sysfs in a user namespace without a network namespace), the test says
what each does.  See conftest.py for the user and the leak checks.
"""

from __future__ import annotations

import json
import os
import stat
import time

import pytest
from rltier import Bundle, Runtime, record_outcome

CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_SETUID",
        "CAP_SETGID", "CAP_DAC_OVERRIDE", "CAP_FOWNER"]


def _one_line_error(r: object) -> str:
    """The last stderr line (runc logs a warning line or two before its error)."""
    lines = [x for x in getattr(r, "stderr", "").splitlines() if x.strip()]
    return lines[-1].replace('\\"', '"') if lines else ""  # logrus escapes quotes


def _said(err: str, phrase: str) -> str:
    """For the table: the phrase if the error says it, else the error's tail."""
    return f'"{phrase}"' if phrase in err else f"...{err[-40:]}"


def _wait_status(rt: Runtime, cid: str, want: str, timeout: float = 5) -> str:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        r = rt("state", cid)
        status = json.loads(r.stdout)["status"] if r.returncode == 0 else f"error: {r.stderr}"
        if status == want:
            break
        time.sleep(0.05)
    return status


def _with_subids(b: Bundle, rt: Runtime) -> None:
    """0 -> the user, 1..65536 -> its /etc/subuid range (newuidmap territory)."""
    u, g = rt.user.subuid, rt.user.subgid
    lx = b.config["linux"]
    lx["uidMappings"] = [{"containerID": 0, "hostID": rt.user.uid, "size": 1},
                         {"containerID": 1, "hostID": u[0], "size": u[1]}]
    lx["gidMappings"] = [{"containerID": 0, "hostID": rt.user.gid, "size": 1},
                         {"containerID": 1, "hostID": g[0], "size": g[1]}]


def test_spec_run_prints_output(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """The issue's check: `spec --rootless && run` prints the output, exit 0, nothing left."""
    b = Bundle(rt)
    cid = rt.new_id()
    r = rt("run", "--bundle", b.write(["sh", "-c", "id -u; cat /proc/self/uid_map; hostname"]), cid)
    record_outcome(request, rt, f"exit {r.returncode}: {r.stdout.split()[:1]}")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(rt.user.uid), "1"]
    assert lines[2] == rt.name  # the spec's hostname
    assert not (rt.root / cid).exists()


def test_spec_rootless_config_matches_runc(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """`spec --rootless` writes runc's config (hostname and version aside)."""
    b = Bundle(rt)
    cfg = b.config
    record_outcome(request, rt, f"{len(cfg['mounts'])} mounts, ns "
                   f"{','.join(n['type'] for n in cfg['linux']['namespaces'])}")
    assert [n["type"] for n in cfg["linux"]["namespaces"]] == ["pid", "ipc", "uts", "mount", "user"]
    assert cfg["linux"]["uidMappings"] == [{"containerID": 0, "hostID": rt.user.uid, "size": 1}]
    assert cfg["linux"]["gidMappings"] == [{"containerID": 0, "hostID": rt.user.gid, "size": 1}]
    assert "resources" not in cfg["linux"]
    sys_mount = next(m for m in cfg["mounts"] if m["destination"] == "/sys")
    assert sys_mount == {"destination": "/sys", "type": "none", "source": "/sys",
                         "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
    assert [m["destination"] for m in cfg["mounts"]] == [
        "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"]
    assert not any(o.startswith(("uid=", "gid=")) for m in cfg["mounts"] for o in m.get("options", []))


def test_run_in_a_terminal(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """`run` of the spec's terminal config at a real terminal: the container's own pty,
    its output, its exit status as ours, nothing left."""
    b = Bundle(rt)
    b.config["process"]["terminal"] = True
    cid = rt.new_id()
    r = rt.in_terminal("run", "--bundle", b.write(["sh", "-c", "tty; echo tty-ok; exit 3"]), cid)
    words = r.stdout.split()
    record_outcome(request, rt, f"exit {r.returncode}: {' '.join(words)}")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert words[-2:] == ["/dev/pts/0", "tty-ok"]
    assert not (rt.root / cid).exists()


def test_lifecycle(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """create, state, start, exec, list, kill, delete as the user."""
    b = Bundle(rt)
    cid = rt.new_id()
    path = b.write(["sleep", "1000"])
    steps: list[str] = []
    r = rt("create", "--bundle", path, cid)
    assert r.returncode == 0, r.stderr
    steps.append("create")
    assert _wait_status(rt, cid, "created") == "created"
    assert rt("start", cid).returncode == 0
    steps.append("start")
    assert _wait_status(rt, cid, "running") == "running"
    r = rt("exec", cid, "sh", "-c", "id -u; echo exec-ok")
    assert r.returncode == 0 and r.stdout == "0\nexec-ok\n", r.stderr
    steps.append("exec")
    r = rt("list")
    row = next(line for line in r.stdout.splitlines() if line.startswith(cid))
    assert row.split()[2] == "running" and row.split()[-1] == rt.user.name
    r = rt("list", "--format", "json")
    assert [c["id"] for c in json.loads(r.stdout)] == [cid]
    steps.append("list")
    pid = json.loads(rt("state", cid).stdout)["pid"]
    assert os.stat(f"/proc/{pid}").st_uid == rt.user.uid  # the init runs as the user on the host
    assert rt("kill", cid, "KILL").returncode == 0
    assert _wait_status(rt, cid, "stopped") == "stopped"
    steps.append("kill")
    assert rt("delete", cid).returncode == 0
    steps.append("delete")
    assert not (rt.root / cid).exists()
    assert rt("state", cid).returncode != 0
    record_outcome(request, rt, " ".join(steps))


def test_default_root_is_xdg_runtime_dir(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """No --root: $XDG_RUNTIME_DIR/<runtime>, made 0700 + sticky (runc: .../runc)."""
    b = Bundle(rt)
    cid = rt.new_id()
    r = rt.raw("run", "-d", "--bundle", b.write(["sleep", "1000"]), cid)
    assert r.returncode == 0, r.stderr
    root = rt.xdg / rt.name
    try:
        st = os.stat(root)
        record_outcome(request, rt, f"{root.name}/ mode {stat.filemode(st.st_mode)}")
        assert (root / cid / "state.json").exists()
        assert stat.S_IMODE(st.st_mode) == 0o1700 and st.st_uid == rt.user.uid
        assert cid in rt.raw("list", "-q").stdout.split()
    finally:
        rt.raw("delete", "--force", cid)
    assert not (root / cid).exists()


@pytest.mark.parametrize("resource", ["memory", "pids"])
def test_limit_without_cgroup_is_an_error(rt: Runtime, resource: str,
                                          request: pytest.FixtureRequest) -> None:
    """A limit needs a cgroup the user may not make: a one-line error naming it."""
    b = Bundle(rt)
    b.config["linux"]["resources"] = ({"memory": {"limit": 64 << 20}} if resource == "memory"
                                      else {"pids": {"limit": 50}})
    cid = rt.new_id()
    r = rt("run", "--bundle", b.write(["true"]), cid)
    err = _one_line_error(r)
    record_outcome(request, rt, f"exit {r.returncode}: {_said(err, f'cannot set {resource} limit')}")
    assert r.returncode != 0
    assert f"cannot set {resource} limit" in err
    if rt.name == "runcgo":
        assert len(r.stderr.strip().splitlines()) == 1
        assert "permission denied" in err
    assert not (rt.root / cid).exists()


def test_rootless_false_needs_cgroups(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """--rootless false: cgroup permission errors are errors again."""
    b = Bundle(rt)
    cid = rt.new_id()
    r = rt("--rootless", "false", "run", "--bundle", b.write(["true"]), cid)
    err = _one_line_error(r)
    record_outcome(request, rt, f"exit {r.returncode}: {_said(err, 'permission denied')}")
    assert r.returncode != 0 and "mkdir /sys/fs/cgroup/" in err and "permission denied" in err
    assert not (rt.root / cid).exists()


def test_no_user_namespace_refused(rt: Runtime, request: pytest.FixtureRequest) -> None:
    b = Bundle(rt)
    lx = b.config["linux"]
    lx["namespaces"] = [n for n in lx["namespaces"] if n["type"] != "user"]
    del lx["uidMappings"], lx["gidMappings"]
    cid = rt.new_id()
    r = rt("run", "--bundle", b.write(["true"]), cid)
    err = _one_line_error(r)
    record_outcome(request, rt, f"exit {r.returncode}: {_said(err, 'requires user namespaces')}")
    assert r.returncode != 0 and "rootless container requires user namespaces" in err
    assert not (rt.root / cid).exists()


def test_devices_are_bind_mounts(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """No mknod in a user namespace: the default devices and linux.devices are binds of
    the host's nodes (mountinfo shows a mount on each; the node is the host's)."""
    b = Bundle(rt)
    b.config["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10,
                                     "minor": 229, "fileMode": 0o666}]
    cid = rt.new_id()
    script = ("for d in /dev/null /dev/zero /dev/urandom /dev/fuse; do "
              "grep -c \" $d \" /proc/self/mountinfo; done; stat -c '%t:%T' /dev/fuse; "
              "echo x > /dev/null && echo write-ok")
    r = rt("run", "--bundle", b.write(["sh", "-c", script]), cid)
    record_outcome(request, rt, f"exit {r.returncode}: {' '.join(r.stdout.split())}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "1", "1", "1", "a:e5", "write-ok"]


def test_sys_bind_without_netns(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """spec --rootless binds the host's /sys: it is the host's sysfs, read-only."""
    b = Bundle(rt)
    cid = rt.new_id()
    r = rt("run", "--bundle", b.write(
        ["sh", "-c", "grep ' /sys ' /proc/self/mountinfo | head -1; "
                     "touch /sys/x 2>/dev/null || echo ro; ls /sys/kernel >/dev/null && echo ok"]),
        cid)
    record_outcome(request, rt, f"exit {r.returncode}")
    assert r.returncode == 0, r.stderr
    first, ro, ok = r.stdout.splitlines()
    assert " - sysfs " in first and " ro," in first
    assert (ro, ok) == ("ro", "ok")


def test_sysfs_type_without_netns(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """A config asking for a new sysfs without a network namespace: the kernel says
    EPERM.  runc 1.1.5 fails; runcgo binds the host's /sys instead (as later runc)."""
    b = Bundle(rt)
    b.config["mounts"] = [m if m["destination"] != "/sys" else
                          {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                           "options": ["nosuid", "noexec", "nodev", "ro"]}
                          for m in b.config["mounts"]]
    cid = rt.new_id()
    r = rt("run", "--bundle", b.write(["sh", "-c", "grep ' /sys ' /proc/self/mountinfo | head -1"]),
           cid)
    err = _one_line_error(r)
    record_outcome(request, rt, f"exit {r.returncode}" + (
        f": {_said(err, 'operation not permitted')}" if r.returncode else " (host /sys bound)"))
    if rt.name == "runc":
        assert r.returncode != 0 and "operation not permitted" in err
    else:
        assert r.returncode == 0, r.stderr
        assert " - sysfs " in r.stdout and " ro," in r.stdout
    assert not (rt.root / cid).exists()


def test_sysfs_with_own_netns(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """With a network namespace of its own a user namespace may mount sysfs."""
    b = Bundle(rt)
    b.config["linux"]["namespaces"].append({"type": "network"})
    b.config["mounts"] = [m if m["destination"] != "/sys" else
                          {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                           "options": ["nosuid", "noexec", "nodev", "ro"]}
                          for m in b.config["mounts"]]
    cid = rt.new_id()
    r = rt("run", "--bundle", b.write(["sh", "-c", "ls /sys/class/net"]), cid)
    record_outcome(request, rt, f"exit {r.returncode}: {' '.join(r.stdout.split())}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["lo"]


def test_several_mappings_via_newuidmap(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """Two ranges (the user + its subuids): newuidmap/newgidmap write the maps; a file
    chowned to 1000 inside lands as subuid+999 on the host; exec -u 1000 works."""
    b = Bundle(rt)
    _with_subids(b, rt)
    b.config["root"]["readonly"] = False
    for kind in ("bounding", "effective", "permitted"):
        b.config["process"]["capabilities"][kind] = CAPS
    cid = rt.new_id()
    path = b.write(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; "
                                "touch /tmp/owned; chown 1000:1000 /tmp/owned; sleep 1000"])
    r = rt("run", "-d", "--bundle", path, cid)
    assert r.returncode == 0, r.stderr
    host_file = b.path / "rootfs" / "tmp" / "owned"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (host_file.exists() and
                                               os.stat(host_file).st_uid != rt.user.uid):
        time.sleep(0.05)
    st = os.stat(host_file)
    u, g = rt.user.subuid, rt.user.subgid
    e = rt("exec", "--user", "1000:1000", cid, "sh", "-c", "id -u; id -g; cat /proc/self/uid_map")
    record_outcome(request, rt, f"file {st.st_uid}:{st.st_gid}, exec -u 1000: "
                   f"{':'.join(e.stdout.split()[:2])}")
    assert (st.st_uid, st.st_gid) == (u[0] + 999, g[0] + 999)
    assert e.returncode == 0, e.stderr
    lines = e.stdout.splitlines()
    assert lines[:2] == ["1000", "1000"]
    assert [x.split() for x in lines[2:]] == [["0", str(rt.user.uid), "1"],
                                             ["1", str(u[0]), str(u[1])]]
    rt("kill", cid, "KILL")
    assert _wait_status(rt, cid, "stopped") == "stopped"
    assert rt("delete", cid).returncode == 0


def test_mapping_helper_error_verbatim(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """A range outside /etc/subuid: newuidmap refuses, and says why (shown as it said it)."""
    b = Bundle(rt)
    _with_subids(b, rt)
    bad = rt.user.subuid[0] + rt.user.subuid[1]  # just past the user's range
    b.config["linux"]["uidMappings"][1]["hostID"] = bad
    cid = rt.new_id()
    r = rt("run", "--bundle", b.write(["true"]), cid)
    record_outcome(request, rt, f"exit {r.returncode}: newuidmap's error "
                   f"{'shown' if 'not allowed' in r.stderr else 'MISSING'}")
    assert r.returncode != 0
    assert f"newuidmap: uid range [1-{1 + rt.user.subuid[1]}) -> [{bad}-" in r.stderr
    assert "not allowed" in r.stderr
    assert not (rt.root / cid).exists()


def test_ping_group_range_refused(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """A net.* sysctl without a network namespace of one's own: a clear error."""
    b = Bundle(rt)
    b.config["linux"]["sysctl"] = {"net.ipv4.ping_group_range": "0 0"}
    cid = rt.new_id()
    r = rt("run", "--bundle", b.write(["true"]), cid)
    err = _one_line_error(r)
    record_outcome(request, rt, f"exit {r.returncode}: {_said(err, 'not allowed in host network namespace')}")
    assert r.returncode != 0
    assert 'sysctl "net.ipv4.ping_group_range" not allowed in host network namespace' in err
    assert not (rt.root / cid).exists()


def test_ipc_sysctl_allowed(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """An IPC-namespaced sysctl is the container's own: allowed rootless."""
    b = Bundle(rt)
    b.config["linux"]["sysctl"] = {"kernel.shm_rmid_forced": "1"}
    cid = rt.new_id()
    r = rt("run", "--bundle", b.write(["cat", "/proc/sys/kernel/shm_rmid_forced"]), cid)
    record_outcome(request, rt, f"exit {r.returncode}: {r.stdout.strip()}")
    assert r.returncode == 0 and r.stdout == "1\n", r.stderr


def test_additional_gids_refused(rt: Runtime, request: pytest.FixtureRequest) -> None:
    b = Bundle(rt)
    b.config["process"]["user"]["additionalGids"] = [5]
    cid = rt.new_id()
    r = rt("run", "--bundle", b.write(["id"]), cid)
    err = _one_line_error(r)
    record_outcome(request, rt, f"exit {r.returncode}: {_said(err, 'cannot set any additional groups')}")
    assert r.returncode != 0 and "cannot set any additional groups in a rootless container" in err
    assert not (rt.root / cid).exists()


def test_delegated_cgroup_is_used(rt: Runtime, delegated: list[str],
                                  request: pytest.FixtureRequest) -> None:
    """Started in a cgroup subtree the user owns (v1 here; Delegate=yes on v2), limits
    are set, pause/resume and ps work, and delete removes the container's cgroups."""
    b = Bundle(rt)
    b.config["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}
    cid = rt.new_id()
    r = rt("run", "-d", "--bundle", b.write(["sleep", "1000"]), cid)
    assert r.returncode == 0, r.stderr
    parents = {os.path.dirname(p) for p in delegated}
    mem = next(p for p in parents if "/memory/" in p)
    pids = next(p for p in parents if "/pids/" in p)
    with open(os.path.join(mem, cid, "memory.limit_in_bytes")) as f:
        assert f.read().strip() == str(64 << 20)
    with open(os.path.join(pids, cid, "pids.max")) as f:
        assert f.read().strip() == "50"
    p = rt("pause", cid)
    assert p.returncode == 0, p.stderr
    assert _wait_status(rt, cid, "paused") == "paused"
    assert rt("resume", cid).returncode == 0
    ps = rt("ps", "--format", "json", cid)
    assert ps.returncode == 0 and len(json.loads(ps.stdout)) == 1, ps.stderr
    record_outcome(request, rt, "limits set, pause/resume, ps")
    assert rt("delete", "--force", cid).returncode == 0
    assert not any(os.path.exists(os.path.join(d, cid)) for d in parents)


def _can_write_freezer(uid: int) -> bool:
    """Is the freezer (v1) or the cgroup2 parent delegated to ``uid``?"""
    for d in ("/sys/fs/cgroup/freezer", "/sys/fs/cgroup"):
        procs = os.path.join(d, "cgroup.procs")
        if os.path.exists(procs):
            return os.stat(d).st_uid == uid
    return False


def test_pause_where_the_cgroup_allows(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """Without a freezer cgroup of its own (no delegation): pause fails clearly and the
    container keeps running; with one, pause/resume work."""
    b = Bundle(rt)
    cid = rt.new_id()
    assert rt("run", "-d", "--bundle", b.write(["sleep", "1000"]), cid).returncode == 0
    r = rt("pause", cid)
    err = _one_line_error(r)
    record_outcome(request, rt, f"exit {r.returncode}: {_said(err, 'cannot toggle freezer')}")
    if _can_write_freezer(rt.user.uid):
        assert r.returncode == 0 and _wait_status(rt, cid, "paused") == "paused"
        assert rt("resume", cid).returncode == 0
    else:
        assert r.returncode != 0
        assert "cannot toggle freezer: cgroups not configured for container" in err
        assert _wait_status(rt, cid, "running") == "running"
    assert rt("delete", "--force", cid).returncode == 0


def test_self_mapping_needs_no_helper(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """Mapping just one's own ids needs no newuidmap: it works with none in $PATH."""
    b = Bundle(rt)
    rt.path = "/nonexistent"
    cid = rt.new_id()
    r = rt("run", "--bundle", b.write(["/bin/sh", "-c", "/bin/cat /proc/self/gid_map /proc/self/setgroups"]), cid)
    record_outcome(request, rt, f"exit {r.returncode}: {' '.join(r.stdout.split())}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", str(rt.user.gid), "1", "deny"]


def test_several_mappings_without_helper(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """Several ranges and no newuidmap in $PATH: an error, nothing left."""
    b = Bundle(rt)
    _with_subids(b, rt)
    rt.path = "/nonexistent"
    cid = rt.new_id()
    r = rt("run", "--bundle", b.write(["true"]), cid)
    err = " ".join(r.stderr.split())
    record_outcome(request, rt, f"exit {r.returncode}: {_said(err, 'newuidmap')}")
    assert r.returncode != 0
    if rt.name == "runcgo":
        assert len(r.stderr.strip().splitlines()) == 1
        assert "newuidmap was not found in $PATH" in err
    rt.path = Runtime("x", rt.user, rt.home).path  # delete --force in the teardown
    assert not (rt.root / cid).exists()


def test_kill_all_without_a_cgroup(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """kill --all finds a container's processes through its cgroup: without one (no
    delegation) both runtimes refuse, and delete --force still ends every process."""
    b = Bundle(rt)
    cid = rt.new_id()
    assert rt("run", "-d", "--bundle", b.write(["sh", "-c", "sleep 1000 & sleep 1000"]),
              cid).returncode == 0
    assert rt("exec", "-d", cid, "sleep", "999").returncode == 0
    r = rt("kill", "--all", cid, "KILL")
    record_outcome(request, rt, f"exit {r.returncode}, then delete -f ends all")
    if not _can_write_freezer(rt.user.uid):
        assert r.returncode != 0
        assert _wait_status(rt, cid, "running") == "running"
    assert rt("delete", "--force", cid).returncode == 0
    assert not (rt.root / cid).exists()
    # (the fixture then checks that no process of the user is left)


def test_idmapped_mount_rootless(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """Only host root may idmap a host filesystem: runcgo says so up front (runc 1.2's
    rule); runc 1.1.5 does not know the fields and mounts a plain bind."""
    b = Bundle(rt)
    src = rt.home / "data"
    src.mkdir()
    os.chown(src, rt.user.uid, rt.user.gid)
    m = [{"containerID": 0, "hostID": rt.user.uid, "size": 1}]
    b.config["mounts"].append({"destination": "/data", "type": "bind", "source": str(src),
                               "options": ["bind"], "uidMappings": m, "gidMappings": m})
    cid = rt.new_id()
    r = rt("run", "--bundle", b.write(["sh", "-c", "grep ' /data ' /proc/self/mountinfo"]), cid)
    err = _one_line_error(r)
    idmapped = "idmapped" in r.stdout
    record_outcome(request, rt, f"exit {r.returncode}" + (
        f": {_said(err, 'not supported for rootless containers')}" if r.returncode
        else f" (plain bind{', idmapped' if idmapped else ''})"))
    if rt.name == "runcgo":
        assert r.returncode == 1 and "id-mapped mounts are not supported for rootless" in err
        assert len(r.stderr.strip().splitlines()) == 1
    else:
        assert r.returncode == 0 and not idmapped
    assert not (rt.root / cid).exists()


@pytest.mark.parametrize(("key", "value", "netns"), [
    ("net.ipv4.ping_group_range", "0 0", True), ("vm.swappiness", "10", False)])
def test_sysctl_with_and_without_privilege(rt: Runtime, key: str, value: str, netns: bool,
                                           request: pytest.FixtureRequest) -> None:
    """A net.* sysctl in the container's own network namespace is its to set; a host-wide
    one (vm.*) is refused with its name."""
    b = Bundle(rt)
    if netns:
        b.config["linux"]["namespaces"].append({"type": "network"})
    b.config["linux"]["sysctl"] = {key: value}
    cid = rt.new_id()
    r = rt("run", "--bundle", b.write(["cat", "/proc/sys/" + key.replace(".", "/")]), cid)
    err = _one_line_error(r)
    record_outcome(request, rt, f"exit {r.returncode}: " + (
        " ".join(r.stdout.split()) if r.returncode == 0 else f"...{err[-48:]}"))
    if netns:
        assert r.returncode == 0 and r.stdout.split() == value.split(), r.stderr
    else:
        assert r.returncode != 0 and key in err
        if rt.name == "runcgo":
            assert len(r.stderr.strip().splitlines()) == 1
    assert not (rt.root / cid).exists()


API_SCRIPT = r"""
import json, os, subprocess, sys
import anyio, runcgo

async def main(bundle, cid):
    async with runcgo.Runtime() as rt:  # no root: the CLI's default for this user
        mode = os.stat(rt.root).st_mode & 0o7777
        async with rt.run(cid, bundle, stdio="pipe") as c:
            listed = subprocess.run([*sys.argv[3:], "list", "-q"], capture_output=True, text=True)
            out = (await c.stdout.receive()).decode()
            code = await c.wait()
    print(json.dumps({"root": rt.root, "mode": oct(mode), "listed": listed.stdout.split(),
                      "out": out, "code": code}))

anyio.run(main, sys.argv[1], sys.argv[2])
"""


def test_api_default_root_is_the_users(rt: Runtime, request: pytest.FixtureRequest) -> None:
    """The async API as the unprivileged user, with no root given: the same state root
    as the CLI's ($XDG_RUNTIME_DIR/runcgo, 01700), where `runcgo list` sees its container."""
    if rt.name != "runcgo":
        pytest.skip("the async API is runcgo's own (runc has none to compare)")
    import sys

    from rltier import run_as

    b = Bundle(rt)
    cid = rt.new_id()
    bundle = b.write(["sh", "-c", "id -u; sleep 1"])
    env = rt.env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"),
                                                     os.path.dirname(os.path.dirname(
                                                         os.path.dirname(os.path.abspath(__file__)))))
                                        if p)
    r = run_as(rt.user, [sys.executable, "-c", API_SCRIPT, bundle, cid, *rt.cmd], env=env,
               cwd=str(rt.home), timeout=60)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.splitlines()[-1])
    record_outcome(request, rt, f"root {got['root']} {got['mode']}, exit {got['code']}")
    assert got["root"] == str(rt.xdg / "runcgo")
    assert got["mode"] == "0o1700"
    assert cid in got["listed"]
    assert got["out"].split()[0] == "0"  # root inside its user namespace
    assert got["code"] == 0
    after = run_as(rt.user, [*rt.cmd, "list", "-q"], env=env, cwd=str(rt.home))
    assert after.returncode == 0 and after.stdout.split() == [], after  # run() deleted it
