"""One regression test per class of runc CVE, each an actual attack run against runcgo.

Each test names the CVE class it guards; the closing comment of each says which
runcgo mechanism stops it (and so what a weakened build would let through).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from harness import Runcgo, runcgo_cmd


def _spawn(runcgo: Runcgo, *args: str, out: Path) -> None:
    with open(out, "w") as f:
        subprocess.run([*runcgo_cmd(), "--root", str(runcgo.root), *args], stdout=f, stderr=f,
                       stdin=subprocess.DEVNULL, check=True, timeout=60)


def test_cve_2019_5736_runtime_exe_unreachable_from_container(runcgo: Runcgo, tmp_path: Path) -> None:
    """A container process watches /proc for runtime processes entering its namespaces
    (the exec setup child, a created container's init) and tries to reach their
    executable.  Stopped by: the pre-exec children are non-dumpable until they exec."""
    cid, bundle = runcgo.bundle(
        ["sh", "-c", "while :; do for p in /proc/[0-9]*; do "
                     "l=$(readlink $p/exe 2>/dev/null); case $l in *python*) echo LEAK $p $l;; esac; "
                     "done; done"])
    out = tmp_path / "watch.out"
    _spawn(runcgo, "run", "-d", "--bundle", str(bundle), cid, out=out)
    for _ in range(15):  # each exec has a window in which a runtime process is inside
        runcgo("exec", cid, "true", check=True)
    # A created container's init is a runtime process sitting in the container's pid ns:
    r = runcgo("exec", cid, "sh", "-c", "readlink /proc/1/exe; cat /proc/1/exe > /dev/null; echo $?")
    assert "python" not in r.stdout
    runcgo("delete", "-f", cid, check=True)
    assert "LEAK" not in out.read_text()


def test_cve_2019_5736_created_init_not_reachable(runcgo: Runcgo) -> None:
    """exec into a *created* container: its PID 1 is still runcgo's init (Python).
    Its /proc/1/exe must not be readable or writable from the container."""
    cid, bundle = runcgo.bundle(["true"])
    runcgo("create", "--bundle", str(bundle), cid, check=True)
    r = runcgo("exec", cid, "sh", "-c",
               "readlink /proc/1/exe || echo no-readlink; "
               "cat /proc/1/exe >/dev/null 2>&1 && echo READ; "
               "echo x 2>/dev/null >> /proc/1/exe && echo WROTE; echo done")
    assert r.returncode == 0, r.stderr
    assert "no-readlink" in r.stdout and "READ" not in r.stdout and "WROTE" not in r.stdout
    runcgo("delete", "-f", cid, check=True)


def test_cve_2024_21626_no_host_fd_as_cwd(runcgo: Runcgo, tmp_path: Path) -> None:
    """A host directory fd that reaches the container (here one the *caller* leaks to us,
    as a careless engine could) lets ``cwd: /proc/self/fd/N`` put the process on the host.
    Stopped by: every fd not asked for is close-on-exec before the user's program runs,
    and the cwd is checked to be reachable from the container root after chdir."""
    host_dir = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)  # inheritable below
    try:
        for n in sorted({host_dir, *range(3, 8)}):  # the leaked fd keeps its number
            cid, bundle = runcgo.bundle(["sh", "-c", "pwd; ls /proc/self/fd"],
                                        **{"process.cwd": f"/proc/self/fd/{n}"})
            os.set_inheritable(host_dir, True)
            with open(tmp_path / "out", "w") as f:
                r = subprocess.run([*runcgo_cmd(), "--root", str(runcgo.root), "run", "--bundle",
                                    str(bundle), cid], stdout=f, stderr=f, stdin=subprocess.DEVNULL,
                                   pass_fds=(host_dir,), timeout=60)
            out = (tmp_path / "out").read_text()
            assert r.returncode != 0, (n, out)  # never a successful start in a host directory
            assert "cwd" in out, out
    finally:
        os.close(host_dir)
    cid, bundle = runcgo.bundle(["sleep", "60"])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    for n in range(3, 9):
        r = runcgo("exec", "--cwd", f"/proc/self/fd/{n}", cid, "pwd")
        assert r.returncode != 0 or r.stdout.strip().startswith("/proc/self/fd") is False
    r = runcgo("exec", cid, "ls", "/proc/1/fd")
    assert sorted(r.stdout.split()) == ["0", "1", "2"]  # the init kept nothing of ours
    runcgo("delete", "-f", cid, check=True)


def test_cve_2021_30465_mount_destination_symlink(runcgo: Runcgo, tmp_path: Path) -> None:
    """A mount destination that is (or goes through) a symlink in the image must not
    put the mount on the host.  Stopped by: openat2(RESOLVE_IN_ROOT) resolution and
    mounting through /proc/self/fd/N, plus refusing links that climb out."""
    host = tmp_path / "host-victim"
    host.mkdir()
    cid, bundle = runcgo.bundle(["true"])
    os.symlink(str(host), bundle / "rootfs" / "abs-link")  # absolute: re-rooted in the rootfs
    os.symlink(os.path.relpath(host, bundle / "rootfs"), bundle / "rootfs" / "rel-link")
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["mounts"].append({"destination": "/abs-link/m", "type": "tmpfs", "source": "tmpfs"})
    (bundle / "config.json").write_text(json.dumps(cfg))
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert list(host.iterdir()) == []
    assert (bundle / "rootfs" / str(host).lstrip("/") / "m").is_dir()
    cfg["mounts"][-1]["destination"] = "/rel-link/m"
    (bundle / "config.json").write_text(json.dumps(cfg))
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 1 and "escapes the rootfs" in r.stderr
    assert list(host.iterdir()) == []


def test_cve_2019_19921_proc_on_symlink(runcgo: Runcgo) -> None:
    """An image whose /proc is a symlink would redirect the runtime's later writes to
    /proc/self/... (LSM labels, oom_score_adj, sysctls).  Stopped by: proc and sysfs
    are mounted only on real directories."""
    cid, bundle = runcgo.bundle(["true"])
    os.rmdir(bundle / "rootfs" / "proc")
    (bundle / "rootfs" / "evil").mkdir()
    os.symlink("/evil", bundle / "rootfs" / "proc")
    r = runcgo("create", "--bundle", str(bundle), cid)
    assert r.returncode == 1
    assert "/proc" in r.stderr and "not a directory" in r.stderr
    assert 'filesystem "proc" must be mounted on ordinary directory' in r.stderr  # runc's words
    assert not (runcgo.root / cid).exists()


def test_cve_2025_31133_masked_path_dev_null_swapped(runcgo: Runcgo, tmp_path: Path) -> None:
    """If /dev/null in the container is not the null device (here a symlink to a file
    the attacker wants writable), masking a path by binding /dev/null over it would
    bind that file instead.  Stopped by: /dev/null is checked to be char 1:3 first."""
    dev = tmp_path / "fake-dev"
    dev.mkdir()
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")
    os.symlink(str(secret), dev / "null")
    cid, bundle = runcgo.bundle(["true"])
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["mounts"] = [m for m in cfg["mounts"] if not m["destination"].startswith("/dev")]
    cfg["mounts"].append({"destination": "/dev", "type": "bind", "source": str(dev),
                          "options": ["rbind"]})
    cfg["linux"]["maskedPaths"] = ["/proc/kcore", "/proc/keys"]
    (bundle / "config.json").write_text(json.dumps(cfg))
    r = runcgo("create", "--bundle", str(bundle), cid)
    assert r.returncode == 1 and "null device" in r.stderr
    assert secret.read_text() == "host secret\n"
    assert not (runcgo.root / cid).exists()


def test_cve_2022_29162_no_inheritable_caps_by_default(runcgo: Runcgo) -> None:
    """Processes must not get inheritable capabilities nobody configured (they would
    be passed on through file capabilities).  Stopped by: capset with exactly the
    configured sets, for the init and for exec."""
    cid, bundle = runcgo.bundle(["sleep", "60"])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    for args in (["grep", "^CapInh", "/proc/1/status"], ["grep", "^CapInh", "/proc/self/status"]):
        r = runcgo("exec", cid, *args)
        assert r.stdout.split()[1] == "0" * 16
    runcgo("delete", "-f", cid, check=True)


def test_cve_2016_9962_init_not_ptraceable(runcgo: Runcgo) -> None:
    """The init's fds (the state dir's exec FIFO, its sync socket) must not be reachable
    from the container before it execs.  Stopped by: the init is non-dumpable, so
    /proc/1/fd/N can't be followed, and it holds nothing but 0-2 and those two."""
    cid, bundle = runcgo.bundle(["true"])
    runcgo("create", "--bundle", str(bundle), cid, check=True)
    r = runcgo("exec", cid, "sh", "-c",
               "for f in /proc/1/fd/*; do readlink $f >/dev/null 2>&1 && echo FOLLOWED $f; "
               "cat $f </dev/null >/dev/null 2>&1 && echo OPENED $f; done; echo done")
    assert r.stdout.strip() == "done", r.stdout
    pid = runcgo.state(cid)["pid"]
    fds = sorted(int(n) for n in os.listdir(f"/proc/{pid}/fd"))
    assert len([fd for fd in fds if fd > 2]) <= 2, [os.readlink(f"/proc/{pid}/fd/{n}") for n in fds]
    runcgo("delete", "-f", cid, check=True)
