"""The root filesystem as the container sees it: mounts, devices, masks, read-only."""

from __future__ import annotations

import json
import os
import stat

import pytest

from harness import Runcgo, into_userns


def run_out(runcgo: Runcgo, args: list[str], **edits) -> str:
    cid, bundle = runcgo.bundle(args, **edits)
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    return r.stdout


def mountinfo_line(out: str, target: str) -> list[str]:
    for line in out.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == target:
            return fields
    raise AssertionError(f"{target} not mounted in:\n{out}")


def test_readonly_rootfs(runcgo: Runcgo) -> None:
    out = run_out(runcgo, ["sh", "-c", "touch /x 2>&1; echo rc=$?; touch /tmp/y 2>&1; echo rc=$?"])
    assert "Read-only file system" in out
    assert out.count("rc=1") == 2


def test_writable_rootfs_when_not_readonly(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sh", "-c", "echo hi > /tmp/written"], **{"root.readonly": False})
    assert runcgo("run", "--bundle", str(bundle), cid).returncode == 0
    assert (bundle / "rootfs" / "tmp" / "written").read_text() == "hi\n"


def test_bind_mounts_ro_and_rw(runcgo: Runcgo, tmp_path) -> None:
    rw = tmp_path / "rwdir"
    ro = tmp_path / "rodir"
    rw.mkdir()
    ro.mkdir()
    (ro / "file").write_text("host data\n")
    mounts_edit = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
        {"destination": "/data/rw", "type": "bind", "source": str(rw), "options": ["rbind", "rw"]},
        {"destination": "/data/ro", "type": "bind", "source": str(ro), "options": ["bind", "ro", "nosuid", "nodev"]},
    ]
    out = run_out(runcgo, ["sh", "-c", "cat /data/ro/file; echo new > /data/rw/out; "
                                      "echo x > /data/ro/nope 2>/dev/null || echo ro-refused; "
                                      "cat /proc/self/mountinfo"], mounts=mounts_edit)
    assert out.startswith("host data\nro-refused\n")
    assert (rw / "out").read_text() == "new\n"
    assert not (ro / "nope").exists()
    ro_line = mountinfo_line(out, "/data/ro")
    assert "ro" in ro_line[5].split(",") and "nosuid" in ro_line[5].split(",")
    assert "rw" in mountinfo_line(out, "/data/rw")[5].split(",")


def test_file_bind_mount_and_tmpfs(runcgo: Runcgo, tmp_path) -> None:
    f = tmp_path / "hosts"
    f.write_text("1.2.3.4 example\n")
    cid, bundle = runcgo.bundle(["sh", "-c", "cat /etc/hosts; grep ' /scratch ' /proc/self/mountinfo"])
    runcgo.edit(bundle, "mounts", [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/etc/hosts", "type": "bind", "source": str(f), "options": ["rbind", "ro"]},
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=1777"]},
    ])
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "1.2.3.4 example"
    assert " - tmpfs " in lines[1] and "size=1024k" in lines[1]


def test_default_devices_and_symlinks(runcgo: Runcgo) -> None:
    out = run_out(runcgo, ["sh", "-c", "ls -l /dev/null /dev/zero /dev/full /dev/random /dev/urandom "
                                      "/dev/tty; readlink /dev/fd; readlink /dev/stdin; readlink /dev/ptmx; "
                                      "echo data > /dev/null && head -c 4 /dev/zero | od -An -tx1"])
    lines = out.splitlines()
    for dev, nums in (("null", "1,   3"), ("zero", "1,   5"), ("full", "1,   7"),
                      ("random", "1,   8"), ("urandom", "1,   9"), ("tty", "5,   0")):
        line = next(ln for ln in lines if ln.endswith("/dev/" + dev))
        assert line.startswith("crw-rw-rw-") and nums in line, line
    assert "/proc/self/fd" in lines and "/proc/self/fd/0" in lines and "pts/ptmx" in lines
    assert lines[-1].split() == ["00", "00", "00", "00"]


def test_linux_devices_are_created(runcgo: Runcgo) -> None:
    out = run_out(runcgo, ["ls", "-ln", "/dev/mydev", "/dev/sub/fuse"],
                  **{"linux.devices": [
                      {"path": "/dev/mydev", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600,
                       "uid": 1000, "gid": 1000},
                      {"path": "/dev/sub/fuse", "type": "c", "major": 10, "minor": 229}]})
    lines = out.splitlines()
    mydev = next(ln for ln in lines if ln.endswith("/dev/mydev"))
    assert mydev.startswith("crw-------") and " 1000 " in mydev and "1,   3" in mydev
    assert any(ln.endswith("/dev/sub/fuse") and "10, 229" in ln for ln in lines)


def test_ptmx_in_linux_devices_stays_the_pts_link(runcgo: Runcgo) -> None:
    """Engines list /dev/ptmx among the devices (privileged pods: every host device);
    it stays the link to the container's own pts/ptmx (c 5:2 through the link)."""
    out = run_out(runcgo, ["sh", "-c", "readlink /dev/ptmx; ls -lLn /dev/ptmx"],
                  **{"linux.devices": [{"path": "/dev/ptmx", "type": "c", "major": 5, "minor": 2}]})
    assert out.splitlines()[0] == "pts/ptmx"
    assert out.splitlines()[1].startswith("crw-rw-rw") and "5,   2" in out


def test_masked_paths_read_empty(runcgo: Runcgo) -> None:
    # (this kernel has no /proc/kcore; /proc/keys and /sys/firmware are in the default masks)
    out = run_out(runcgo, ["sh", "-c", "ls /sys/firmware | wc -l; wc -c < /proc/keys; "
                                      "grep -c . /proc/keys; true"])
    assert out.split() == ["0", "0", "0"]
    assert os.listdir("/sys/firmware")  # the host's is not empty: the mask is real


def test_readonly_paths_are_read_only(runcgo: Runcgo) -> None:
    out = run_out(runcgo, ["sh", "-c", "echo 1 > /proc/sys/kernel/ns_last_pid 2>&1; echo rc=$?; "
                                      "grep ' /proc/sys ' /proc/self/mountinfo"],
                  **{"linux.readonlyPaths": ["/proc/sys"]})
    assert "rc=1" in out
    line = next(ln for ln in out.splitlines() if " /proc/sys " in ln)
    assert line.split()[5].split(",")[0] == "ro"


def test_sysctl(runcgo: Runcgo) -> None:
    out = run_out(runcgo, ["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start",
                           "/proc/sys/kernel/shmmni"],
                  **{"linux.sysctl": {"net.ipv4.ip_unprivileged_port_start": "123",
                                      "kernel.shmmni": "2048"}})
    assert out.split() == ["123", "2048"]
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        assert f.read().strip() != "123"  # the host's own value is untouched


def test_no_pivot(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sh", "-c", "ls /; cat /proc/self/mountinfo | wc -l"])
    r = runcgo("run", "--no-pivot", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert "bin" in r.stdout.split()


def test_old_root_is_gone_after_pivot(runcgo: Runcgo) -> None:
    out = run_out(runcgo, ["cat", "/proc/self/mountinfo"])
    # Only the container's own mounts: nothing of the host's tree is reachable.
    targets = [ln.split()[4] for ln in out.splitlines()]
    assert targets[0] == "/"
    assert not any(t.startswith("/work") or t.startswith("/tmp/pytest") for t in targets)


def test_cgroup_mount_shows_own_hierarchies(runcgo: Runcgo) -> None:
    out = run_out(runcgo, ["sh", "-c", "ls /sys/fs/cgroup; cat /sys/fs/cgroup/pids/cgroup.procs"])
    names = out.split()
    assert {"memory", "pids", "cpu", "freezer"} <= set(names)
    assert "1" in names  # the container's own pids cgroup, holding its PID 1


def test_rootfs_propagation_private(runcgo: Runcgo) -> None:
    out = run_out(runcgo, ["grep", "-E", "^[0-9]+ [0-9]+ [^ ]+ [^ ]+ / ", "/proc/self/mountinfo"],
                  **{"linux.rootfsPropagation": "private"})
    assert "shared:" not in out and "master:" not in out


def test_dev_is_char_device_checked_for_masks(runcgo: Runcgo) -> None:
    # Masking a file binds /dev/null over it: the result must be the null device.
    cid, bundle = runcgo.bundle(["sh", "-c", "stat -c '%t:%T' /proc/keys"])
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1:3"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_readonly_dev_tmpfs(runcgo: Runcgo) -> None:
    """A read-only /dev still gets its devices, /dev/pts and /dev/shm (they are made
    while it is writable) and ends read-only, as with runc."""
    cid, bundle = runcgo.bundle(["sh", "-c", "grep '^tmpfs /dev ' /proc/mounts; "
                                             "grep -c ' /dev/pts ' /proc/mounts; "
                                             "ls -l /dev/null | cut -c1; "
                                             "touch /dev/new 2>/dev/null || echo refused"])
    cfg = json.loads((bundle / "config.json").read_text())
    for m in cfg["mounts"]:
        if m["destination"] == "/dev":
            m["options"] = [*m.get("options", []), "ro"]
    (bundle / "config.json").write_text(json.dumps(cfg))
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    dev, pts, null, refused = r.stdout.splitlines()
    assert dev.split()[3].startswith("ro,")
    assert pts == "1" and null == "c" and refused == "refused"


def test_readonly_tmpfs_with_a_mount_below(runcgo: Runcgo, tmp_path) -> None:
    """A read-only tmpfs can hold the mount point of a later mount (made before it
    turns read-only)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("below\n")
    cid, bundle = runcgo.bundle(["sh", "-c", "cat /ro/sub/f; touch /ro/x 2>/dev/null || echo refused"])
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["mounts"] += [{"destination": "/ro", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]},
                      {"destination": "/ro/sub", "type": "bind", "source": str(src),
                       "options": ["bind"]}]
    (bundle / "config.json").write_text(json.dumps(cfg))
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "below\nrefused\n"


@pytest.mark.parametrize(("no_pivot", "userns"), [(False, False), (True, False), (True, True)])
def test_no_bare_proc_reachable(runcgo: Runcgo, no_pivot: bool, userns: bool) -> None:
    """A new user+pid namespace inside the container may mount proc only if a fully
    visible proc is in its mount namespace.  The container's /proc has masked paths;
    with --no-pivot the host's /proc must not stay behind under the chroot (in a
    user namespace it is locked: covered, not detached)."""
    cid, bundle = runcgo.bundle(
        ["unshare", "-mrpf", "sh", "-c", "mount -t proc none /proc && echo MOUNTED"])
    if userns:
        into_userns(bundle)
    cfg = json.loads((bundle / "config.json").read_text())
    for name in ("bounding", "permitted"):  # to map root in the new user namespace
        cfg["process"]["capabilities"][name].append("CAP_SETFCAP")
    (bundle / "config.json").write_text(json.dumps(cfg))
    r = runcgo("run", *(["--no-pivot"] if no_pivot else []), "--bundle", str(bundle), cid)
    assert "MOUNTED" not in r.stdout
    assert r.returncode == 1 and "permission denied" in r.stderr, r.stderr
