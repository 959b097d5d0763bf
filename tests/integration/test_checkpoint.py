"""checkpoint/restore: runc's commands and flags; what runcgo checks before CRIU runs.

CRIU itself (criu 3.17) cannot work on kernels >= 6.13: there the commands must end
in one line carrying CRIU's own reason, and leave the container running.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from harness import Runcgo


def _running(runcgo: Runcgo) -> str:
    cid, bundle = runcgo.bundle(["sleep", "300"])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    return cid


def test_parent_path_must_be_relative_and_exist(runcgo: Runcgo, tmp_path: Path) -> None:
    cid = _running(runcgo)
    r = runcgo("checkpoint", "--parent-path", str(tmp_path / "parent"), "--image-path",
               str(tmp_path / "img"), cid)
    assert r.returncode == 1 and "--parent-path" in r.stderr and "relative" in r.stderr
    r = runcgo("checkpoint", "--parent-path", "./parent", "--image-path", str(tmp_path / "img"), cid)
    assert r.returncode == 1 and "--parent-path" in r.stderr and "no such file" in r.stderr
    assert len(r.stderr.splitlines()) == 1
    assert runcgo.state(cid)["status"] == "running"


def _criu_check() -> tuple[str | None, str]:
    """(criu's first error from `criu check`, or None if it works; its version line)."""
    criu = shutil.which("criu")
    if criu is None:
        return "not found", ""
    p = subprocess.run([criu, "check"], capture_output=True, text=True)
    version = subprocess.run([criu, "--version"], capture_output=True, text=True).stdout
    errors = [ln for ln in (p.stderr + p.stdout).splitlines() if "Error" in ln]
    if p.returncode == 0:
        return None, version
    return (errors[0].split("): ", 1)[-1] if errors else "failed"), version


def test_checkpoint_without_working_criu_is_one_line(runcgo: Runcgo, tmp_path: Path) -> None:
    """On this host's kernel Debian's criu 3.17 stops at its vDSO probe: checkpoint
    says so in criu's words, with its version, and the container runs on."""
    error, version = _criu_check()
    if error is None:
        pytest.skip(f"criu works on this kernel ({version.strip()}): no error case here "
                    "(the checkpoint tier tests the round trips)")
    cid = _running(runcgo)
    r = runcgo("checkpoint", "--image-path", str(tmp_path / "img"), cid)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "CRIU" in r.stderr, r.stderr
    if error != "not found":
        assert error in r.stderr, r.stderr  # e.g. "vdso: Unexpected rt vDSO area bounds"
        assert "criu 3." in r.stderr or "criu 4." in r.stderr, r.stderr
    assert runcgo.state(cid)["status"] == "running"
    # The container still works: exec into it.
    assert runcgo("exec", cid, "true").returncode == 0


def test_restore_without_working_criu_leaves_nothing(runcgo: Runcgo, tmp_path: Path) -> None:
    """A restore that criu can't do: one line, and no state, cgroup or mount remains."""
    error, _ = _criu_check()
    if error is None:
        pytest.skip("criu works on this kernel: no error case here")
    img = tmp_path / "img"
    img.mkdir()
    (img / "descriptors.json").write_text('["/dev/null", "pipe:[1]", "pipe:[2]"]')
    cid, bundle = runcgo.bundle(["sleep", "300"])
    r = runcgo("restore", "-d", "--image-path", str(img), "--bundle", str(bundle), cid)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    if error != "not found":
        assert error in r.stderr, r.stderr
    assert runcgo("state", cid).returncode == 1
    assert not (runcgo.root / cid).exists()
    cgpath = json.loads((bundle / "config.json").read_text())["linux"]["cgroupsPath"]
    assert not any(cgpath.strip("/") in line for line in _cgroup_dirs()), cgpath
    assert str(runcgo.root) not in Path("/proc/self/mountinfo").read_text()


def _cgroup_dirs() -> list[str]:
    out = []
    for top in Path("/sys/fs/cgroup").iterdir():
        if top.is_dir():
            out += [str(p) for p in top.glob("*") if p.is_dir()]
    return out


def test_restore_of_a_directory_without_checkpoint(runcgo: Runcgo, tmp_path: Path) -> None:
    cid, bundle = runcgo.bundle(["sleep", "300"])
    r = runcgo("restore", "--image-path", str(tmp_path), "--bundle", str(bundle), cid)
    assert r.returncode == 1 and "descriptors.json" in r.stderr and "not a checkpoint" in r.stderr
    assert not (runcgo.root / cid).exists()


def test_bad_criu_flags_are_one_line(runcgo: Runcgo, tmp_path: Path) -> None:
    cid = _running(runcgo)
    r = runcgo("checkpoint", "--manage-cgroups-mode", "sometimes", "--image-path",
               str(tmp_path / "img"), cid)
    assert r.returncode == 1 and "--manage-cgroups-mode 'sometimes'" in r.stderr
    r = runcgo("checkpoint", "--empty-ns", "pid", "--image-path", str(tmp_path / "img"), cid)
    assert r.returncode == 1 and "--empty-ns 'pid'" in r.stderr
    assert runcgo.state(cid)["status"] == "running"


def test_checkpoint_of_missing_or_stopped_container(runcgo: Runcgo) -> None:
    assert "does not exist" in runcgo("checkpoint", "ghost").stderr
    cid, bundle = runcgo.bundle(["true"])
    runcgo("run", "--keep", "--bundle", str(bundle), cid, check=True)
    r = runcgo("checkpoint", cid)
    assert r.returncode == 1 and "container not running" in r.stderr


def test_restore_refuses_an_existing_id(runcgo: Runcgo, tmp_path: Path) -> None:
    cid = _running(runcgo)
    r = runcgo("restore", "--image-path", str(tmp_path), "--bundle", str(tmp_path), cid)
    assert r.returncode == 1 and "already exists" in r.stderr


def test_host_dev_null_stdio_is_reopened_in_the_container(runcgo: Runcgo) -> None:
    """stdin is the host's /dev/null here; inside, fd 0 must be the container's own
    /dev/null (as runc does), which is also what lets criu dump it."""
    cid, bundle = runcgo.bundle(["sh", "-c", "stat -L -c %d:%i /proc/self/fd/0; "
                                 "stat -c %d:%i /dev/null; readlink /proc/self/fd/1"])
    r = runcgo("run", "--bundle", str(bundle), cid, check=True)
    fd0, null, out = r.stdout.splitlines()
    assert fd0 == null, r.stdout
    host = os.stat("/dev/null")
    assert null != f"{host.st_dev}:{host.st_ino}"  # the container's /dev is its own tmpfs
    assert out != "/dev/null"  # stdout (a file of ours) is left alone


def test_checkpoint_of_a_terminal_container_without_working_criu(runcgo: Runcgo,
                                                                   tmp_path: Path) -> None:
    """A console's master is outside the container: the dump goes over criu's RPC
    (``criu swrk``, orphan-pts-master, as runc).  Where criu can't work, that path
    too ends in one line with criu's reason, and the container runs on."""
    from test_terminal import read_until, recv_master

    error, _ = _criu_check()
    if error is None:
        pytest.skip("criu works on this kernel: no error case here")
    cid, bundle = runcgo.bundle(["sh"], **{"process.terminal": True})
    sock_path = tmp_path / "console.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen(1)
    try:
        runcgo("run", "-d", "--bundle", str(bundle), "--console-socket", str(sock_path), cid,
               check=True)
        master, _ = recv_master(listener)
    finally:
        listener.close()
    try:
        r = runcgo("checkpoint", "--image-path", str(tmp_path / "img"), cid)
        assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
        assert "Traceback" not in r.stderr and "CRIU" in r.stderr, r.stderr
        if error != "not found":
            assert error in r.stderr, r.stderr
        assert runcgo.state(cid)["status"] == "running"
        os.write(master, b"echo $((40+2))\r")  # the shell still answers on its terminal
        read_until(master, b"42\r\n")
    finally:
        os.close(master)


def test_restore_mount_points_nested_in_a_bind_source(tmp_path: Path) -> None:
    """Before criu restores, every mount point is made again, a nested one inside
    the outer bind's source (runc's checkpoint.bats "nested bind mounts"); the
    temporary binds are gone afterwards, and symlinks can't lead out."""
    from runcgo.kernel.criu.mountpoints import Prepared

    rootfs, outer, inner = tmp_path / "rootfs", tmp_path / "outer", tmp_path / "inner"
    for d in (rootfs, outer, inner):
        d.mkdir()
    (rootfs / "escape").symlink_to("/")
    before = Path("/proc/self/mountinfo").read_text()
    mounts = [("/test", str(outer), "bind"), ("/test/for/nested", str(inner), "bind"),
              ("/dev", "", "tmpfs"), ("/dev/pts", "", "other"), ("/proc", "", "other"),
              ("/escape/tmp/crt-nope", "", "other")]
    with Prepared(str(rootfs), mounts):
        assert str(rootfs / "test") in Path("/proc/self/mountinfo").read_text()
    assert (outer / "for" / "nested").is_dir()  # made inside the outer bind's source
    assert (rootfs / "test").is_dir() and (rootfs / "proc").is_dir()
    assert (rootfs / "dev").is_dir()  # the tmpfs's own mount point is made ...
    assert not (rootfs / "dev" / "pts").exists()  # ... not those on it: criu restores it whole
    assert (rootfs / "tmp" / "crt-nope").is_dir() and not Path("/tmp/crt-nope").exists()
    assert Path("/proc/self/mountinfo").read_text() == before


def test_restore_of_a_terminal_container_needs_a_console_socket(runcgo: Runcgo,
                                                                 tmp_path: Path) -> None:
    """Refused before criu or any cgroup/state exists, in one line (as create)."""
    img = tmp_path / "img"
    img.mkdir()
    (img / "descriptors.json").write_text('["/dev/pts/0", "/dev/pts/0", "/dev/pts/0"]')
    cid, bundle = runcgo.bundle(["sh"], **{"process.terminal": True})
    r = runcgo("restore", "-d", "--image-path", str(img), "--bundle", str(bundle), cid)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "--console-socket" in r.stderr and "process.terminal" in r.stderr, r.stderr
    assert not (runcgo.root / cid).exists()


def test_terminal_restore_without_criu_rpc_definitions(runcgo: Runcgo, tmp_path: Path) -> None:
    """No criu rpc_pb2 to be found: one line naming what is missing, nothing made."""
    img = tmp_path / "img"
    img.mkdir()
    (img / "descriptors.json").write_text('["/dev/pts/0", "/dev/pts/0", "/dev/pts/0"]')
    cid, bundle = runcgo.bundle(["sh"], **{"process.terminal": True})
    r = runcgo("restore", "-d", "--console-socket", str(tmp_path / "c.sock"), "--image-path",
               str(img), "--bundle", str(bundle), cid,
               env={**os.environ, "RUNCGO_CRIU_RPC_PB2": str(tmp_path / "nope.py")})
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "rpc_pb2" in r.stderr and "nope.py" in r.stderr, r.stderr
    assert not (runcgo.root / cid).exists()
    cgpath = json.loads((bundle / "config.json").read_text())["linux"]["cgroupsPath"]
    assert not any(cgpath.strip("/") in line for line in _cgroup_dirs()), cgpath
