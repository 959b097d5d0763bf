"""Helpers of the rootless tier: the unprivileged user, a runtime called as that
user, a bundle it owns, and the table of outcomes (see conftest.py)."""


from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

import bundles
from harness import runcgo_cmd

USER = os.environ.get("RUNCGO_RL_USER", "runcgo-rl")
RUNC = shutil.which("runc", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/runc"
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"  # absolute: tests vary the user's $PATH
RUNTIMES = ["runc", "runcgo"]
# scenario -> runtime -> outcome, printed at the end of the session
OUTCOMES: dict[str, dict[str, str]] = {}


def _subid_range(path: str, user: str) -> tuple[int, int] | None:
    try:
        with open(path) as f:
            for line in f:
                name, _, rest = line.strip().partition(":")
                if name == user:
                    start, _, count = rest.partition(":")
                    return int(start), int(count)
    except FileNotFoundError:
        pass
    return None


def _free_range(count: int = 65536) -> int:
    """A subordinate range no one in /etc/subuid or /etc/subgid uses."""
    taken: list[tuple[int, int]] = []
    for path in ("/etc/subuid", "/etc/subgid"):
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    parts = line.strip().split(":")
                    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                        taken.append((int(parts[1]), int(parts[2])))
    start = 100000
    while any(s < start + count and start < s + n for s, n in taken):
        start += count
    return start


class RLUser:
    """The unprivileged user the tier runs as."""

    def __init__(self, name: str, created: bool) -> None:
        pw = pwd.getpwnam(name)
        self.name, self.uid, self.gid, self.created = name, pw.pw_uid, pw.pw_gid, created
        sub_u = _subid_range("/etc/subuid", name)
        sub_g = _subid_range("/etc/subgid", name)
        assert sub_u and sub_g, f"{name} has no /etc/subuid or /etc/subgid range"
        self.subuid, self.subgid = sub_u, sub_g

    def leftover_pids(self) -> list[int]:
        """Processes running as the user or as one of its subordinate ids."""
        lo, n = self.subuid
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                uid = os.stat(f"/proc/{entry}").st_uid
            except FileNotFoundError:
                continue
            if uid == self.uid or lo <= uid < lo + n:
                out.append(int(entry))
        return out


class Runtime:
    """One runtime's CLI, called as the user, with its own state root."""

    def __init__(self, name: str, user: RLUser, home: Path) -> None:
        self.name, self.user, self.home = name, user, home
        self.cmd = [RUNC] if name == "runc" else runcgo_cmd()
        self.root = home / f"state-{name}"
        self.xdg = home / "xdg"
        self.ids: list[str] = []
        self.path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        # cgroup.procs files the runtime is started in (a delegated subtree), if any
        self.cgroup_procs: list[str] = []

    def env(self) -> dict[str, str]:
        env = {"PATH": self.path,
               "HOME": str(self.home), "USER": self.user.name, "LOGNAME": self.user.name,
               "XDG_RUNTIME_DIR": str(self.xdg)}
        if os.environ.get("PYTHONPATH"):
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        return env

    def raw(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The runtime as the user, with exactly ``args`` (no --root)."""
        join = self.cgroup_procs
        return run_as(self.user, [*self.cmd, *args], env=self.env(), cwd=str(self.home),
                      timeout=timeout, preexec_fn=(lambda: _join(join)) if join else None)

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.raw("--root", str(self.root), *args, timeout=timeout)

    def in_terminal(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The runtime (with --root) on a real pty, as a person at a terminal: script(1)
        makes the pty; its stdin stays open until the runtime is done (an EOF at once
        would be typed into the container as ^D)."""
        r = run_as(self.user, [*self.cmd, "--root", str(self.root), *args], env=self.env(),
                   cwd=str(self.home), timeout=timeout, tty=True)
        r.stdout = r.stdout.replace("^@", "")
        return r

    def new_id(self) -> str:
        cid = f"rl-{self.name}-{len(self.ids)}"
        self.ids.append(cid)
        return cid

    def cleanup(self) -> None:
        for cid in self.ids:
            self("delete", "--force", cid)


def run_as(user: RLUser, cmd: list[str], *, env: dict[str, str], cwd: str,
           timeout: float = 60, tty: bool = False,
           preexec_fn: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    """``cmd`` as ``user`` (setpriv, no supplementary groups).  Its output goes to
    files, not pipes: a detached container's init inherits them and would hold a
    pipe open.  With ``tty`` it runs inside script(1), which gives it a real pty;
    script's stdin then stays open until the command is done (an EOF at once would
    be typed into the pty as ^D), and carriage returns are dropped from stdout."""
    if tty:
        cmd = ["script", "-qec", " ".join(shlex.quote(a) for a in cmd), "/dev/null"]
    full = [SETPRIV, f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", "--", *cmd]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(full, stdout=out, stderr=err, text=True, env=env, cwd=cwd,
                             stdin=subprocess.PIPE if tty else subprocess.DEVNULL,
                             preexec_fn=preexec_fn)
        try:
            p.wait(timeout)
        finally:
            if p.stdin is not None:
                p.stdin.close()
            if p.returncode is None:
                p.kill()
                p.wait()
        out.seek(0)
        err.seek(0)
        text = out.read()
        return subprocess.CompletedProcess(full, p.returncode,
                                           text.replace("\r", "") if tty else text, err.read())


def _join(procs_files: list[str]) -> None:
    """In the forked child, still root: move it into the delegated cgroups."""
    for path in procs_files:
        with open(path, "w") as f:
            f.write(str(os.getpid()))


class Bundle:
    """A busybox bundle owned by the user, from the runtime's own ``spec --rootless``."""

    def __init__(self, rt: Runtime, name: str = "bundle") -> None:
        self.path = rt.home / name
        self.path.mkdir()
        bundles.make_rootfs(str(self.path / "rootfs"))
        _chown_tree(self.path, rt.user)
        r = rt.raw("spec", "--rootless", "--bundle", str(self.path))
        assert r.returncode == 0, r.stderr
        self.config: dict[str, Any] = json.loads((self.path / "config.json").read_text())
        self.config["process"]["terminal"] = False

    def write(self, args: list[str] | None = None) -> str:
        if args is not None:
            self.config["process"]["args"] = args
        data = json.dumps(self.config, indent=1)
        (self.path / "config.json").write_text(data)
        return str(self.path)


def _chown_tree(path: Path, user: RLUser) -> None:
    for top, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(top, name), user.uid, user.gid)
    os.chown(path, user.uid, user.gid)


def record_outcome(request: pytest.FixtureRequest, rt: Runtime | Named, outcome: str) -> None:
    """What this runtime did in this scenario, for the side-by-side table."""
    scenario = request.node.originalname.removeprefix("test_")
    params = {k: v for k, v in getattr(request.node, "callspec", None).params.items()
              if k not in ("rt", "rtname")} if hasattr(request.node, "callspec") else {}
    if params:
        scenario += "[" + ",".join(str(v) for v in params.values()) + "]"
    OUTCOMES.setdefault(scenario, {})[rt.name] = outcome.replace("\n", " ")[:70]


class Named:
    """A stand-in with just a ``name`` for :func:`record_outcome`."""

    def __init__(self, name: str) -> None:
        self.name = name


