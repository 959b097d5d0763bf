"""checkpoint/restore: runc's commands and flags; what runcgo checks before CRIU runs.

CRIU itself (criu 3.17) cannot work on kernels >= 6.13: there the commands must end
in one line carrying CRIU's own reason, and leave the container running.
"""

from __future__ import annotations

from pathlib import Path

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


def test_checkpoint_without_working_criu_is_one_line(runcgo: Runcgo, tmp_path: Path) -> None:
    cid = _running(runcgo)
    r = runcgo("checkpoint", "--image-path", str(tmp_path / "img"), cid)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1
    assert "CRIU" in r.stderr, r.stderr  # criu missing, or criu's own reason
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
