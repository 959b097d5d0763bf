"""Test helpers: a runcgo CLI driver, bundle factories, host checks.

Every integration test runs real containers as root.  The session-wide host
guard fails the run if /sys/fs/cgroup stops being the v1 tmpfs (a container set
up without its own mount namespace could do that), or if mounts, cgroups,
state directories or processes of ours are left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))

import bundles

CGROUP_ROOT = "/sys/fs/cgroup"
# Per test session, so the host guard only judges what this run created.
# $RUNCGO_TEST_CG_PREFIX (e.g. "runcgo-test-wtb-") marks whose run it is when
# several checkouts test on one machine.
TEST_CG_PREFIX = f"{os.environ.get('RUNCGO_TEST_CG_PREFIX', 'runcgo-test-')}{uuid.uuid4().hex[:6]}-"
IS_ROOT = os.geteuid() == 0


def cgroup_fs_type() -> str:
    return subprocess.run(["stat", "-f", "-c", "%T", CGROUP_ROOT], capture_output=True,
                          text=True, check=True).stdout.strip()


def _our_mounts() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f
                if "runcgo" in line.split()[4] or "pytest-of" in line.split()[4]]


def _our_cgroups() -> list[str]:
    out = []
    for ctrl in os.listdir(CGROUP_ROOT):
        base = os.path.join(CGROUP_ROOT, ctrl)
        if os.path.isdir(base):
            out += [os.path.join(base, n) for n in os.listdir(base) if n.startswith(TEST_CG_PREFIX)]
    return out


def runcgo_cmd() -> list[str]:
    """How tests call the CLI: $RUNCGO_CLI (e.g. "python -m runcgo" for a worktree), else
    the venv's console script."""
    if os.environ.get("RUNCGO_CLI"):
        return os.environ["RUNCGO_CLI"].split()
    exe = shutil.which("runcgo", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "runcgo"]


class Runcgo:
    """Runs the real CLI against a private --root; tracks containers to clean up."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self.root = root
        self.tmp = tmp
        self.ids: list[str] = []

    def __call__(self, *args: str, check: bool = False, input: str | None = None,
                 timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run the CLI; stdout/stderr go to files, not pipes, because a created or
        detached container's init inherits them and would hold a pipe open."""
        cmd = [*runcgo_cmd(), "--root", str(self.root), *args]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(cmd, stdout=out, stderr=err, text=True, input=input,
                               timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL,
                               **kw)
            out.seek(0)
            err.seek(0)
            r = subprocess.CompletedProcess(cmd, p.returncode, out.read(), err.read())
        if check and r.returncode != 0:
            raise AssertionError(f"{cmd} exited {r.returncode}: {r.stderr.strip()}")
        return r

    def state(self, cid: str) -> dict[str, Any]:
        r = self("state", cid, check=True)
        return json.loads(r.stdout)  # type: ignore[no-any-return]

    def new_id(self) -> str:
        cid = f"t-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def bundle(self, args: list[str] | None = None, **edits: Any) -> tuple[str, Path]:
        """A fresh busybox bundle; returns (container id, bundle path)."""
        cid = self.new_id()
        path = self.tmp / f"bundle-{cid}"
        bundles.make_bundle(str(path), args or ["true"])
        cfg = json.loads((path / "config.json").read_text())
        cfg["linux"]["cgroupsPath"] = f"/{TEST_CG_PREFIX}{cid}"
        for key, value in edits.items():
            set_path(cfg, key, value)
        (path / "config.json").write_text(json.dumps(cfg, indent=1))
        return cid, path

    def edit(self, bundle: Path, key: str, value: Any) -> None:
        cfg = json.loads((bundle / "config.json").read_text())
        set_path(cfg, key, value)
        (bundle / "config.json").write_text(json.dumps(cfg, indent=1))

    def cleanup(self) -> None:
        for cid in self.ids:
            self("delete", "--force", cid)


def set_path(cfg: dict[str, Any], dotted: str, value: Any) -> None:
    """``process.user.uid`` style edits; value ``...`` (Ellipsis) deletes the key."""
    parts = dotted.split(".")
    cur: Any = cfg
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    if value is ...:
        cur.pop(parts[-1], None)
    else:
        cur[parts[-1]] = value




def into_userns(bundle: Path, host_id: int = 100000, size: int = 65536) -> None:
    """Give a bundle a user namespace mapping 0 to ``host_id`` (as runc's userns.bats):
    the mapped root must be able to search the bundle's parents; no cgroup mount."""
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["linux"]["namespaces"].append({"type": "user"})
    for key in ("uidMappings", "gidMappings"):
        cfg["linux"][key] = [{"containerID": 0, "hostID": host_id, "size": size}]
    cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] != "cgroup"]
    (bundle / "config.json").write_text(json.dumps(cfg, indent=1))
    for parent in [bundle, *bundle.parents]:
        if str(parent) in ("/", "/tmp"):
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o011)
