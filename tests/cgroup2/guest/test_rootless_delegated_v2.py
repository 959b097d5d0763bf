"""Rootless runcgo on cgroup v2 in a subtree delegated to the user (issue 14).

What systemd does for a user session (``Delegate=yes``), done by hand: a cgroup
whose directory and ``cgroup.procs``/``cgroup.subtree_control``/``cgroup.threads``
belong to the user, and the user's processes started in a leaf of it.  A rootless
container with a ``cgroupsPath`` in that subtree then gets its own cgroup with the
limits written, can be paused through ``cgroup.freeze`` and is removed on delete.
Outside a delegated subtree the same limits are a one-line error, and nothing is
left.  runc 1.1.5 runs as the control on the same bundles.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import bundles
from harness import runcgo_cmd

CGROUP_ROOT = Path("/sys/fs/cgroup")
UID = GID = 4242  # no passwd entry needed: the single self-mapping needs no newuidmap
RUNC = shutil.which("runc", path="/usr/sbin:/usr/bin") or "/usr/sbin/runc"
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"


class User:
    """A runtime (runcgo or runc) called as uid 4242, started in ``launch_cgroup``."""

    def __init__(self, base: Path, cmd: list[str], launch_cgroup: Path | None) -> None:
        self.base, self.cmd, self.launch = base, cmd, launch_cgroup
        self.root = base / "state"

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        launch = self.launch

        def enter_cgroup() -> None:  # in the child, still root
            if launch is not None:
                (launch / "cgroup.procs").write_text(str(os.getpid()))

        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.base),
               "XDG_RUNTIME_DIR": str(self.base / "xdg")}
        if os.environ.get("PYTHONPATH"):
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        # files, not pipes: a detached container's init inherits them
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run([SETPRIV, f"--reuid={UID}", f"--regid={GID}", "--clear-groups",
                                "--", *self.cmd, "--root", str(self.root), *args],
                               stdin=subprocess.DEVNULL, stdout=out, stderr=err, text=True,
                               env=env, cwd=str(self.base), timeout=300,
                               preexec_fn=enter_cgroup)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())


def _chown_tree(path: Path) -> None:
    for top, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(top, name), UID, GID)
    os.chown(path, UID, GID)


def _delegate(path: Path) -> None:
    """Hand a cgroup to the user as systemd's Delegate=yes does."""
    path.mkdir(exist_ok=True)
    os.chown(path, UID, GID)
    for name in ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
        os.chown(path / name, UID, GID)


@pytest.fixture
def base() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="rlv2-", dir="/tmp"))
    os.chmod(d, 0o755)
    (d / "xdg").mkdir(mode=0o700)
    _chown_tree(d)  # the user's home: its state root and XDG_RUNTIME_DIR go here
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def delegated(cgroup: Path) -> Path:
    """The guest conftest's fresh child of the root (removed with its processes after
    the test), handed to the user, with the leaf the user's processes start in."""
    _delegate(cgroup)
    _delegate(cgroup / "launch")
    return cgroup


def _bundle(user: User, name: str, cgroups_path: str) -> Path:
    path = user.base / name
    path.mkdir()
    bundles.make_rootfs(str(path / "rootfs"))
    _chown_tree(path)
    r = user("spec", "--rootless", "--bundle", str(path))
    assert r.returncode == 0, r.stderr
    cfg: dict[str, Any] = json.loads((path / "config.json").read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sleep", "300"]
    cfg["linux"]["cgroupsPath"] = cgroups_path
    cfg["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 40}}
    (path / "config.json").write_text(json.dumps(cfg))
    _chown_tree(path)
    return path


@pytest.mark.parametrize("runtime", ["runcgo", "runc"])
def test_limits_pause_and_cleanup_in_a_delegated_subtree(base: Path, delegated: Path,
                                                         runtime: str) -> None:
    cmd = runcgo_cmd() if runtime == "runcgo" else [RUNC]
    user = User(base, cmd, delegated / "launch")
    cid = f"rlv2-{runtime}"
    leaf = delegated / cid
    bundle = _bundle(user, "bundle", f"/{delegated.name}/{cid}")
    try:
        r = user("run", "-d", "--bundle", str(bundle), cid)
        assert r.returncode == 0, f"{runtime}: {r.stderr}"
        state = json.loads(user("state", cid).stdout)
        pid = state["pid"]
        assert Path(f"/proc/{pid}/cgroup").read_text().strip() == f"0::/{delegated.name}/{cid}"
        assert (leaf / "memory.max").read_text().strip() == str(64 << 20)
        assert (leaf / "pids.max").read_text().strip() == "40"
        assert Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0] == str(UID)
        assert user("pause", cid).returncode == 0
        assert (leaf / "cgroup.freeze").read_text().strip() == "1"
        assert json.loads(user("state", cid).stdout)["status"] == "paused"
        assert user("resume", cid).returncode == 0
        assert (leaf / "cgroup.freeze").read_text().strip() == "0"
        r = user("delete", "--force", cid)
        assert r.returncode == 0, r.stderr
        assert not leaf.exists(), f"{runtime} left {leaf}"
        assert not Path(f"/proc/{pid}").exists()
    finally:
        user("delete", "--force", cid)


def test_limits_outside_a_delegated_subtree_are_one_line(base: Path, delegated: Path) -> None:
    """A cgroupsPath the user may not create (root's) with limits: a clear error, exit 1,
    no state, no cgroup, no process."""
    user = User(base, runcgo_cmd(), delegated / "launch")
    bundle = _bundle(user, "bundle", "/runcgo-test-rlv2-not-delegated/c1")
    r = user("run", "--bundle", str(bundle), "rlv2-denied")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "runcgo-test-rlv2-not-delegated" in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not (CGROUP_ROOT / "runcgo-test-rlv2-not-delegated").exists()
    assert not (user.root / "rlv2-denied").exists()
    assert (delegated / "launch" / "cgroup.procs").read_text().strip() == ""
