"""Helpers for the API tests (a module, not conftest: conftest names collide)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

import bundles
from harness import CGROUP_ROOT, TEST_CG_PREFIX, runcgo_cmd, set_path


class Env:
    """A state root and bundle factory for one test; ``cli`` runs the real CLI."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = str(tmp / "state")
        self.ids: list[str] = []
        self.rootfs = str(tmp / "rootfs")
        bundles.make_rootfs(self.rootfs)

    def new_id(self) -> str:
        cid = f"api-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def bundle(self, args: list[str], **edits: Any) -> tuple[str, str]:
        """(id, bundle dir); the config points at the shared rootfs."""
        cid = self.new_id()
        path = str(self.tmp / f"bundle-{cid}")
        cfg = bundles.shared_rootfs_bundle(path, self.rootfs, args, f"/{TEST_CG_PREFIX}{cid}")
        for key, value in edits.items():
            set_path(cfg, key, value)
        bundles.write_config(path, cfg)
        return cid, path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Output goes to files: a detached container inherits them and would hold
        a pipe open."""
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(
                [*runcgo_cmd(), "--root", self.root, *args],
                stdout=out,
                stderr=err,
                text=True,
                stdin=subprocess.DEVNULL,
                timeout=60,
            )
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())

    def leftovers(self, cid: str) -> list[str]:
        """What of a container still exists: state dir, cgroup dirs."""
        out = []
        if os.path.exists(os.path.join(self.root, cid)):
            out.append(f"state dir {cid}")
        for ctrl in os.listdir(CGROUP_ROOT):
            p = os.path.join(CGROUP_ROOT, ctrl, f"{TEST_CG_PREFIX}{cid}")
            if os.path.isdir(p):
                out.append(p)
        return out


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")
