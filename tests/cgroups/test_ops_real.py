"""pause/resume, update, ps and events through the state store (root, v1/hybrid)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runcgo.errors import ContainerNotRunning, InvalidState
from runcgo.kernel.cgroups import CgroupManager
from runcgo.kernel.cgroups.v1 import V1Manager
from runcgo.ops import drive
from runcgo.ops.events import iter_events
from runcgo.ops.pause import pause, resume
from runcgo.ops.ps import ps
from runcgo.ops.update import resources_from_flags, update
from runcgo.state import ContainerState, Store, proc_start_time

from .conftest import BUSYBOX, Procs, real

pytestmark = [real, pytest.mark.root]


@pytest.fixture
def container(tmp_path: Any, make_cgroup: Callable[[], CgroupManager],
              procs: Procs) -> Iterator[tuple[Store, str, CgroupManager, Procs]]:
    """A 'running' container: a busybox sleep as init in its own cgroup."""
    m = make_cgroup()
    init = procs.gated(BUSYBOX, "sleep", "60")
    m.apply(init.pid)
    procs.release(init)
    info = proc_start_time(init.pid)
    assert info
    store = Store(str(tmp_path / "root"))
    store.make_dir("c1")
    store.save(ContainerState(id="c1", pid=init.pid, bundle=str(tmp_path), rootfs="/",
                              created="now", init_start_time=info[0], cgroup=m.to_state()))
    yield store, "c1", m, procs


def test_pause_resume_and_status(container: Any) -> None:
    store, cid, m, procs = container
    busy = procs.gated(BUSYBOX, "sh", "-c", "while :; do :; done")
    m.apply(busy.pid)
    procs.release(busy)
    drive(pause(store, cid))
    assert store.load(cid).status == "paused"
    with pytest.raises(ContainerNotRunning):
        drive(pause(store, cid))
    drive(resume(store, cid))
    assert store.load(cid).status == "running"
    with pytest.raises(InvalidState, match="not paused"):
        drive(resume(store, cid))


def test_ps_lists_exactly_the_containers_pids(container: Any) -> None:
    store, cid, m, procs = container
    other = procs.gated(BUSYBOX, "sleep", "60")
    m.apply(other.pid)
    outsider = procs.gated(BUSYBOX, "sleep", "60")  # not in the container
    got = drive(ps(store, cid))
    assert got == sorted([store.load(cid).pid, other.pid])
    assert outsider.pid not in got


def test_update_changes_live_limit(container: Any) -> None:
    store, cid, m, _ = container
    assert isinstance(m, V1Manager)
    r = resources_from_flags(None, {
        "--memory": "64m", "--memory-swap": "128m", "--pids-limit": "20", "--cpu-share": "256",
        "--cpu-quota": "30000", "--cpu-period": "100000", "--cpuset-cpus": "0",
        "--blkio-weight": "300"})
    drive(update(store, cid, r))

    def rd(ctrl: str, name: str) -> str:
        d = m.dir_for(ctrl)
        assert d
        with open(f"{d}/{name}") as f:
            return f.read().strip()

    assert rd("memory", "memory.limit_in_bytes") == str(64 << 20)
    assert rd("memory", "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert rd("pids", "pids.max") == "20"
    assert rd("cpu", "cpu.shares") == "256"
    assert rd("cpu", "cpu.cfs_quota_us") == "30000"
    assert rd("cpuset", "cpuset.cpus") == "0"
    assert rd("blkio", "blkio.bfq.weight") == "300"
    saved = store.load(cid).config["linux"]["resources"]
    assert saved["memory"]["limit"] == 64 << 20 and saved["pids"]["limit"] == 20
    # A second update touching only pids keeps the memory limit.
    drive(update(store, cid, resources_from_flags(None, {"--pids-limit": 30})))
    assert rd("memory", "memory.limit_in_bytes") == str(64 << 20)
    assert rd("pids", "pids.max") == "30"


def test_events_stats_once(container: Any) -> None:
    store, cid, _, _ = container
    evs = list(iter_events(store, cid, stats=True))
    assert len(evs) == 1
    assert evs[0]["type"] == "stats" and evs[0]["id"] == cid
    assert evs[0]["data"]["pids"]["current"] == 1


def test_events_reports_oom(container: Any) -> None:
    store, cid, m, procs = container
    r = resources_from_flags(None, {"--memory": "32m", "--memory-swap": "32m"})
    drive(update(store, cid, r))
    gen = iter_events(store, cid, interval=0.3)
    first = next(gen)
    assert first["type"] == "stats"
    hog = procs.gated(sys.executable, "-c", "b = b'x' * (200 << 20)")
    m.apply(hog.pid)
    procs.release(hog)
    deadline = time.monotonic() + 30
    seen = []
    for ev in gen:
        seen.append(ev["type"])
        if ev["type"] == "oom" or time.monotonic() > deadline:
            break
    gen.close()
    assert seen[-1] == "oom" and all(t == "stats" for t in seen[:-1])
    assert hog.wait(timeout=10) == -9


def test_events_ends_when_container_stops(container: Any) -> None:
    store, cid, _, procs = container
    gen = iter_events(store, cid, interval=0.1)
    assert next(gen)["type"] == "stats"
    procs.started[0].kill()
    procs.started[0].wait()
    rest = list(gen)
    assert all(e["type"] == "stats" for e in rest)
    with pytest.raises(ContainerNotRunning):
        next(iter_events(store, cid, stats=True))
