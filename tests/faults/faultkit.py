"""Fault injection: run the runtime, SIGKILL it at a chosen moment, then check
that ``delete --force`` leaves nothing on the host.

Every container of this tier is tagged: its id is the tag, its processes
(and the runtime's own, and its hooks') carry ``RUNCGO_TEST_TAG=<id>`` in their
environment, and its cgroup name holds the id (see tests/hostcheck.py).
Faults are counted so the session can report how many were injected.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

import bundles
from harness import TEST_CG_PREFIX, runcgo_cmd, set_path
from hostcheck import TAG_VAR, leftovers, live_netns

# Injected faults (SIGKILLs sent, and how many landed on a live runtime) and
# what was found left behind after cleanup, for the session summary.
COUNTS = {"sent": 0, "landed": 0, "checked": 0, "left_behind": 0}
LEFT: list[str] = []


class Env:
    """A state root, a shared busybox rootfs and a bundle factory for one test."""

    def __init__(self, tmp: Path, rootfs: str) -> None:
        self.tmp = tmp
        self.root = str(tmp / "state")
        self.rootfs = rootfs
        self.ids: list[str] = []

    def bundle(self, args: list[str] | None = None, **edits: Any) -> tuple[str, str]:
        cid = f"f-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        path = str(self.tmp / f"bundle-{cid}")
        cfg = bundles.shared_rootfs_bundle(path, self.rootfs, args or ["sleep", "300"],
                                           f"/{TEST_CG_PREFIX}{cid}",
                                           ["PATH=/bin", f"{TAG_VAR}={cid}"])
        for key, value in edits.items():
            set_path(cfg, key, value)
        bundles.write_config(path, cfg)
        return cid, path

    def userns(self, bundle: str) -> None:
        """Give the bundle a user namespace (root mapped to host uid 100000): create
        then takes the other path, a setup child that waits for its id maps and
        forks the init."""
        path = Path(bundle) / "config.json"
        cfg = json.loads(path.read_text())
        cfg["linux"]["namespaces"].append({"type": "user"})
        for key in ("uidMappings", "gidMappings"):
            cfg["linux"][key] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] != "cgroup"]
        path.write_text(json.dumps(cfg))
        for start in (Path(bundle), Path(self.rootfs)):  # the mapped root must reach them
            for parent in [start, *start.parents]:
                if str(parent) in ("/", "/tmp"):
                    break
                os.chmod(parent, os.stat(parent).st_mode | 0o011)

    def hook(self, cid: str, name: str, body: str) -> dict[str, Any]:
        """A shell hook (tagged by its environment) whose script is ``body``."""
        script = self.tmp / f"{name}-{cid}.sh"
        script.write_text("#!/bin/sh\n" + body + "\n")
        script.chmod(0o755)
        return {"path": str(script), "env": [f"{TAG_VAR}={cid}", "PATH=/usr/bin:/bin"]}

    def spawn(self, cid: str, *args: str) -> subprocess.Popen[bytes]:
        """The runtime, tagged; its output goes to files (an init would hold a pipe)."""
        env = dict(os.environ, **{TAG_VAR: cid})
        out = open(self.tmp / f"out-{cid}-{time.monotonic_ns()}", "wb")  # noqa: SIM115
        try:
            return subprocess.Popen([*runcgo_cmd(), "--root", self.root, *args], env=env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        finally:
            out.close()

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run([*runcgo_cmd(), "--root", self.root, *args], stdout=out,
                               stderr=err, text=True, stdin=subprocess.DEVNULL, timeout=timeout)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())

    def state_dir(self, cid: str) -> Path:
        return Path(self.root) / cid


def kill_after(proc: subprocess.Popen[bytes], delay: float) -> bool:
    """SIGKILL ``proc`` ``delay`` seconds from now; True if it was still running."""
    if delay > 0:
        time.sleep(delay)
    return kill_now(proc)


def kill_when(proc: subprocess.Popen[bytes], cond: Callable[[], bool],
              timeout: float = 10.0) -> bool:
    """SIGKILL ``proc`` as soon as ``cond()`` holds (polled every 0.5 ms)."""
    deadline = time.monotonic() + timeout
    while not cond() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0005)
    return kill_now(proc)


def kill_now(proc: subprocess.Popen[bytes]) -> bool:
    COUNTS["sent"] += 1
    landed = False
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    landed = proc.returncode == -signal.SIGKILL
    COUNTS["landed"] += landed
    return landed


def netns_of_tagged(cid: str) -> set[str]:
    """Net namespaces of the container's processes other than the host's."""
    from hostcheck import tagged_processes

    host = os.readlink("/proc/self/ns/net")
    out = set()
    for entry in tagged_processes(cid):
        with_pid = entry.split()[0]
        try:
            ns = os.readlink(f"/proc/{with_pid}/ns/net")
        except OSError:
            continue
        if ns != host:
            out.add(ns)
    return out


def force_delete_and_check(env: Env, cid: str, settle: float = 3.0) -> list[str]:
    """``delete --force``; then nothing of ``cid`` may be left: processes,
    cgroups, mounts, net namespaces, state entries.  Returns the leftovers
    (empty), after waiting ``settle`` s for dying processes to go."""
    netns = netns_of_tagged(cid)
    # Whatever the fault left, `state` answers: the state, or one line (no traceback).
    r = env.cli("state", cid)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 1, r.stderr
    r = env.cli("delete", "--force", cid)
    assert r.returncode == 0, f"delete --force {cid}: {r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) <= 1, r.stderr
    deadline = time.monotonic() + settle
    left = _left(env, cid, netns)
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = _left(env, cid, netns)
    COUNTS["checked"] += 1
    COUNTS["left_behind"] += len(left)
    LEFT.extend(f"{cid}: {item}" for item in left)
    return left


def _left(env: Env, cid: str, netns: set[str]) -> list[str]:
    out = leftovers(cid, env.root)
    if netns:
        out += [f"netns {n}" for n in netns & live_netns()]
    return out
