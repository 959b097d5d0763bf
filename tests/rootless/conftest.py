"""The rootless tier: runc and runcgo side by side, run by a real unprivileged user.

The session makes (as root) a dedicated user, ``runcgo-rl``, with a range in
/etc/subuid and /etc/subgid, unless it exists already; a user the tier made is
removed again at the end, with its ranges.  Every runtime call then runs as
that user through ``setpriv`` (no PAM session, no inherited groups), with a
private $XDG_RUNTIME_DIR and --root, so nothing of root's leaks in.

After each test: the state root is empty and no process of the user is left
(the user is ours alone: anything still running under its uid, or the uids
it maps to, was started by this tier).  At the end, a table of every scenario
with each runtime's outcome is printed (the side-by-side comparison).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rltier import OUTCOMES, RUNC, RUNTIMES, USER, RLUser, Runtime, _free_range, _subid_range


@pytest.fixture(scope="session")
def rl_user() -> Iterator[RLUser]:
    if os.geteuid() != 0:
        pytest.skip("the rootless tier creates its unprivileged user: run it as root")
    for tool in ("newuidmap", "newgidmap", "setpriv"):
        assert shutil.which(tool), f"{tool} missing: scripts/bootstrap.sh --tests installs uidmap"
    created = False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--user-group", "--shell",
                        "/usr/sbin/nologin", USER], check=True, capture_output=True)
        created = True
    try:
        for path, flag in (("/etc/subuid", "--add-subuids"), ("/etc/subgid", "--add-subgids")):
            if _subid_range(path, USER) is None:
                start = _free_range()
                subprocess.run(["usermod", flag, f"{start}-{start + 65535}", USER],
                               check=True, capture_output=True)
        user = RLUser(USER, created)
        yield user
    finally:
        if created:
            subprocess.run(["userdel", USER], check=False, capture_output=True)
            for path in ("/etc/subuid", "/etc/subgid"):  # older shadow leaves the ranges
                if _subid_range(path, USER) is not None:
                    with open(path) as f:
                        kept = [x for x in f if not x.startswith(USER + ":")]
                    with open(path, "w") as f:
                        f.writelines(kept)


@pytest.fixture(params=RUNTIMES)
def rt(request: pytest.FixtureRequest, rl_user: RLUser) -> Iterator[Runtime]:
    """Each scenario once with runc and once with runcgo, as the user."""
    name = request.param
    if name == "runc" and not os.path.exists(RUNC):
        pytest.fail(f"runc not found at {RUNC}: the tier compares against it")
    home = Path(tempfile.mkdtemp(prefix=f"runcgo-rl-{name}-", dir="/tmp"))
    os.chmod(home, 0o755)
    os.chown(home, rl_user.uid, rl_user.gid)
    runtime = Runtime(name, rl_user, home)
    try:
        yield runtime
    finally:
        runtime.cgroup_procs = []  # (a delegated subtree is gone by now)
        # A broken cleanup must not leave the user's processes and files: the checks
        # below say what it failed to remove.
        with contextlib.suppress(Exception):
            runtime.cleanup()
        leftover_state = sorted(p.name for p in runtime.root.iterdir()) if runtime.root.exists() else []
        # A killed init may take a moment to be reaped by its reaper: give it that.
        deadline = time.monotonic() + 2
        while rl_user.leftover_pids() and time.monotonic() < deadline:
            time.sleep(0.02)
        pids = rl_user.leftover_pids()
        for pid in pids:  # ours: only this tier runs as the user and its subordinate ids
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while rl_user.leftover_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(home, ignore_errors=True)
        assert not leftover_state, f"{name}: state left behind: {leftover_state}"
        assert not pids, f"{name}: processes left behind: {pids}"


@pytest.fixture
def delegated(rl_user: RLUser, rt: Runtime) -> Iterator[list[str]]:
    """A cgroup v1 subtree (every hierarchy) owned by the user -- what systemd's
    Delegate=yes is on cgroup v2 -- as ``cgroup.procs`` files to start the runtime in.
    Removed again (its leaf must be gone by then: the container was deleted)."""
    name = f"rl-deleg-{os.getpid()}"
    made: list[str] = []
    try:
        for entry in sorted(os.listdir("/sys/fs/cgroup")):
            base = os.path.join("/sys/fs/cgroup", entry)
            if os.path.islink(base) or not os.path.ismount(base):
                continue
            d = os.path.join(base, name)
            os.mkdir(d)
            made.append(d)
            if os.path.exists(os.path.join(d, "cpuset.cpus")):
                for f in ("cpuset.cpus", "cpuset.mems"):
                    with open(os.path.join(base, f)) as src, open(os.path.join(d, f), "w") as dst:
                        dst.write(src.read().strip())
            os.chown(d, rl_user.uid, rl_user.gid)
            for f in os.listdir(d):
                os.chown(os.path.join(d, f), rl_user.uid, rl_user.gid)
        rt.cgroup_procs = [os.path.join(d, "cgroup.procs") for d in made]
        yield rt.cgroup_procs
    finally:
        rt.cgroup_procs = []
        rt.cleanup()  # its containers' cgroups first (before rt's own teardown)
        deadline = time.monotonic() + 5
        for d in reversed(made):
            while True:
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not OUTCOMES:
        return
    tr = terminalreporter
    tr.section("rootless scenarios: runc vs runcgo (as an unprivileged user)")
    width = max(len(s) for s in OUTCOMES)
    tr.write_line(f"{'scenario'.ljust(width)} | {'runc 1.1.5'.ljust(48)} | runcgo")
    for scenario, by in OUTCOMES.items():
        tr.write_line(f"{scenario.ljust(width)} | {by.get('runc', '-')[:48].ljust(48)} | "
                      f"{by.get('runcgo', '-')}")
