"""Fixtures for the cgroup tests.

Real tests create cgroups only under /runcgo-test-cg/<uuid> in each hierarchy
and kill only processes they started.  A session fixture checks that
/sys/fs/cgroup is still the v1 tmpfs before and after: a stray cgroup2 mount
over it breaks every runtime and Docker on the machine.
"""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from runcgo.kernel.cgroups import CgroupManager, detect, new_manager

PREFIX = "/runcgo-test-cg"
BUSYBOX = "/bin/busybox"


def _cgroup_fstype() -> str:
    return subprocess.run(["stat", "-f", "-c", "%T", "/sys/fs/cgroup"], capture_output=True,
                          text=True, check=True).stdout.strip()


def _prefix_dirs() -> set[str]:
    return {d for d in glob.glob(f"/sys/fs/cgroup/*{PREFIX}") if os.path.isdir(d)}


@pytest.fixture(scope="session", autouse=True)
def cgroupfs_untouched() -> Iterator[None]:
    before = _cgroup_fstype()
    if os.geteuid() == 0 and os.path.isdir("/sys/fs/cgroup/memory"):
        assert before == "tmpfs", f"/sys/fs/cgroup is {before} before the tests"
    prefix_before = _prefix_dirs()
    yield
    after = _cgroup_fstype()
    assert after == before, f"/sys/fs/cgroup changed from {before} to {after} during the tests"
    # The tests' common parent goes too once its children are gone (ours only).
    for d in sorted(_prefix_dirs() - prefix_before):
        with contextlib.suppress(OSError):
            os.rmdir(d)
    left = _prefix_dirs() - prefix_before
    assert not left, f"cgroups left behind: {sorted(left)}"


def _real_ok() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    try:
        if detect() == "v2":
            return "v1/hybrid host tests (v2 runs in the VM tier)"
    except Exception as e:
        return f"no cgroups: {e}"
    if not os.path.exists(BUSYBOX):
        return "needs /bin/busybox (busybox-static)"
    return None


real = pytest.mark.skipif(_real_ok() is not None, reason=str(_real_ok()))


class Procs:
    """Processes a test started; all killed (only these) at teardown."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def gated(self, *argv: str) -> subprocess.Popen[bytes]:
        """A process that waits for a line on stdin before exec'ing ``argv``,
        so it can be put into a cgroup before it does anything."""
        p = subprocess.Popen([BUSYBOX, "sh", "-c", 'read x; exec "$@"', "sh", *argv],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.started.append(p)
        return p

    @staticmethod
    def release(p: subprocess.Popen[bytes]) -> None:
        assert p.stdin is not None
        p.stdin.write(b"go\n")
        p.stdin.flush()

    def kill_all(self) -> None:
        for p in self.started:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
            with contextlib.suppress(Exception):
                p.wait(timeout=5)
            for f in (p.stdin, p.stdout):
                if f is not None:
                    with contextlib.suppress(Exception):
                        f.close()


@pytest.fixture
def procs() -> Iterator[Procs]:
    pr = Procs()
    yield pr
    pr.kill_all()


@pytest.fixture
def make_cgroup(procs: Procs) -> Iterator[Callable[[], CgroupManager]]:
    """Factory of created managers under /runcgo-test-cg/<uuid>; all destroyed after."""
    made: list[CgroupManager] = []

    def make() -> CgroupManager:
        m = new_manager("t", f"{PREFIX}/{uuid.uuid4().hex[:12]}")
        m.create()
        made.append(m)
        return m

    yield make
    procs.kill_all()
    for m in reversed(made):
        # Anything left in our cgroup descends from a process we started.
        with contextlib.suppress(Exception):
            if m.freezer_state() == "frozen":
                m.thaw()
        for pid in m.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while m.pids() and time.monotonic() < deadline:
            time.sleep(0.01)
        m.destroy()
