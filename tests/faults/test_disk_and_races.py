"""Faults other than a killed runtime: a full filesystem under --root, an init
that fails before `ready`, two creates of one ID at once."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultkit import COUNTS, Env, force_delete_and_check
from harness import runcgo_cmd
from hostcheck import leftovers

PAGE = os.sysconf("SC_PAGE_SIZE")


def _mount_tmpfs(target: Path, size: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    opts = f"size={size},mode=0755".encode()
    if libc.mount(b"tmpfs", str(target).encode(), b"tmpfs", 0, opts) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount tmpfs on {target}: {os.strerror(err)}")


def _umount(target: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(str(target).encode(), 2) != 0:  # MNT_DETACH
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}")


def _fill(path: Path, leave_pages: int) -> None:
    """Fill the filesystem holding ``path``, then free ``leave_pages`` pages."""
    fd = os.open(path / "filler", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        try:
            while True:
                os.write(fd, b"\0" * PAGE)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        if leave_pages:
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave_pages * PAGE))
    finally:
        os.close(fd)


@pytest.fixture
def tiny_root(tmp_path: Path, env: Env) -> Iterator[Path]:
    """A 256 KiB tmpfs to hold --root (unmounted after, once whatever a failed
    test left on it is deleted)."""
    mnt = tmp_path / "tinyfs"
    mnt.mkdir()
    _mount_tmpfs(mnt, 256 * 1024)
    try:
        yield mnt
    finally:
        with contextlib.suppress(OSError):
            (mnt / "filler").unlink()
        for cid in env.ids:
            env.cli("delete", "--force", cid)
        _umount(mnt)


@pytest.mark.parametrize("free_pages", [0, 1, 2, 3, 4])
def test_full_disk_under_root(env: Env, tiny_root: Path, free_pages: int) -> None:
    """create on a full --root: a clear one-line error, or success with a
    container that deletes cleanly; never anything left behind."""
    env.root = str(tiny_root / "state")
    os.mkdir(env.root, 0o711)
    _fill(tiny_root, free_pages)
    cid, bundle = env.bundle()
    r = env.cli("create", "--bundle", bundle, cid)
    COUNTS["other"] = COUNTS.get("other", 0) + 1
    if r.returncode != 0:
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert "no space left on device" in lines[0] and str(tiny_root) in lines[0], lines[0]
        assert leftovers(cid, env.root) == []
        env.ids.remove(cid)
    else:
        r = env.cli("start", cid)
        assert r.returncode == 0, r.stderr
        assert force_delete_and_check(env, cid) == []
    (tiny_root / "filler").unlink()


def test_update_on_full_disk_keeps_state_whole(env: Env, tiny_root: Path) -> None:
    """`update` must rewrite state.json: on a full disk it fails in one line, the
    old state.json stays whole and no half-written temporary file is left."""
    env.root = str(tiny_root / "state")
    cid, bundle = env.bundle()
    assert env.cli("run", "-d", "--bundle", bundle, cid).returncode == 0
    _fill(tiny_root, 0)
    r = env.cli("update", "--pids-limit", "50", cid)
    COUNTS["other"] = COUNTS.get("other", 0) + 1
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "no space left on device" in r.stderr, r.stderr
    assert sorted(os.listdir(Path(env.root) / cid)) == ["init.json", "state.json"]
    assert '"running"' in env.cli("state", cid).stdout
    (tiny_root / "filler").unlink()
    assert force_delete_and_check(env, cid) == []


BAD_INITS = {
    "missing-executable": ({"process.args": ["/no/such/program"]}, "/no/such/program"),
    "bad-mount": ({"mounts": [{"destination": "/mnt", "type": "nosuchfs", "source": "x"}]},
                  "on /mnt: no such device"),
    "bad-cwd-file": ({"process.cwd": "/bin/busybox"}, "/bin/busybox"),
    "bad-mount-with-limits": (
        {"mounts": [{"destination": "/mnt", "type": "nosuchfs", "source": "x"}],
         "linux.resources": {"memory": {"limit": 64 << 20}, "pids": {"limit": 100},
                             "cpu": {"shares": 512}}}, "on /mnt: no such device"),
}


@pytest.mark.parametrize("rep", range(4))
@pytest.mark.parametrize("userns", [False, True], ids=["direct", "userns"])
@pytest.mark.parametrize("kind", sorted(BAD_INITS))
def test_init_dying_before_ready_reports_its_own_error(env: Env, kind: str, userns: bool,
                                                       rep: int) -> None:
    edits, needle = BAD_INITS[kind]
    cid, bundle = env.bundle(**{k: v for k, v in edits.items() if k != "mounts"})
    if userns:
        env.userns(bundle)
    if "mounts" in edits:
        import json

        cfg = json.loads((Path(bundle) / "config.json").read_text())
        cfg["mounts"] = cfg["mounts"] + edits["mounts"]
        (Path(bundle) / "config.json").write_text(json.dumps(cfg))
    r = env.cli("create", "--bundle", bundle, cid)
    COUNTS["other"] = COUNTS.get("other", 0) + 1
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0], lines[0]
    for noise in ("broken pipe", "connection reset", "exited without reporting"):
        assert noise not in lines[0].lower(), lines[0]
    assert leftovers(cid, env.root) == []


@pytest.mark.parametrize("rep", range(20))
def test_two_creates_of_one_id(env: Env, rep: int) -> None:
    """Started together: exactly one wins; the loser says the ID exists and
    takes nothing of the winner's with it."""
    cid, bundle = env.bundle()
    procs = []
    for _ in range(2):
        out = open(env.tmp / f"race-{len(procs)}", "w+")  # noqa: SIM115
        procs.append((subprocess.Popen([*runcgo_cmd(), "--root", env.root, "create",
                                        "--bundle", bundle, cid],
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=out), out))
    results = []
    for p, out in procs:
        p.wait(timeout=60)
        out.seek(0)
        results.append((p.returncode, out.read()))
        out.close()
    COUNTS["other"] = COUNTS.get("other", 0) + 1
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    loser = next(text for code, text in results if code == 1)
    assert "already exists" in loser and len(loser.strip().splitlines()) == 1, loser
    r = env.cli("state", cid)
    assert r.returncode == 0, r.stderr
    assert '"created"' in r.stdout
    assert env.cli("start", cid).returncode == 0
    deadline = time.monotonic() + 5
    while '"running"' not in env.cli("state", cid).stdout:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert force_delete_and_check(env, cid) == []
