"""Creates racing under one shared parent cgroup on a v1 cpuset hierarchy
(issue 20: an orchestrator's slots ``/parent/slotN``, made and removed all day).

A new v1 cpuset has empty ``cpuset.cpus``/``cpuset.mems`` and refuses tasks
with ENOSPC until they are filled from its parent.  What must hold, whoever
made the parent and whatever the others are doing meanwhile:

* a parent removed under a create (its maker was deleted while it was empty
  for a moment) is looked up again and made again, not reported missing;
* a level emptied after the create filled it is repaired by the joining
  child, not turned into ``join cgroup ...: no space left on device``;
* many processes creating, joining and removing slots under one parent
  (existing and filled, existing but empty, not existing) never fail and
  leave nothing behind.

Real cgroupfs, root only; everything under ``/runcgo-test-scale-<uuid>``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from cgtree import CG, hierarchies, remove_tree, tops

from runcgo.kernel.cgroups import detect
from runcgo.kernel.cgroups.selfjoin import join_tasks
from runcgo.kernel.cgroups.v1 import V1Manager, new_v1

from .conftest import real

pytestmark = [real, pytest.mark.root]

@pytest.fixture
def parent() -> Iterator[str]:
    if detect() == "v2" or not os.path.isdir(f"{CG}/cpuset"):
        pytest.skip("needs a cgroup-v1 cpuset hierarchy (v2 has no empty-cpuset state)")
    rel = f"/runcgo-test-scale-{uuid.uuid4().hex[:8]}"
    yield rel
    remove_tree(rel)
    assert tops(rel) == []


def _make_parent(rel: str, filled: bool) -> None:
    """The parent as an orchestrator or kubelet leaves it: made with a plain
    mkdir in every hierarchy (empty cpuset), or already filled."""
    for h in hierarchies():
        os.mkdir(os.path.join(h, rel.lstrip("/")))
    if filled:
        cpuset = os.path.join(CG, "cpuset", rel.lstrip("/"))
        for name in ("cpuset.cpus", "cpuset.mems"):
            with open(os.path.join(CG, "cpuset", name)) as f:
                value = f.read().strip()
            with open(os.path.join(cpuset, name), "w") as f:
                f.write(value)


def _join_in_child(m: V1Manager) -> int:
    """Fork a child that joins ``m`` by itself (as the pre-exec child does);
    its exit code is the errno of a failed join, 0 when it joined."""
    join = m.self_join()
    assert join is not None
    tasks = join[1]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            join_tasks(tasks)
        except OSError as e:
            code = e.errno or 1
        except BaseException:
            code = 99
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _read(d: str, name: str) -> str:
    with open(os.path.join(d, name)) as f:
        return f.read().strip()


def test_parent_removed_under_a_create_is_made_again(parent: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The create looked, saw the shared parent there, and before its own mkdir
    the parent's maker was deleted and removed it (empty for a moment).  It used
    to retry only the levels it had seen missing and fail with ENOENT."""
    _make_parent(parent, filled=True)
    m = new_v1("scale-a", f"{parent}/slot0")
    cpuset_leaf = m.dirs["cpuset"]
    real_mkdir = os.mkdir
    fired = []

    def racing_mkdir(path: str, mode: int = 0o777) -> None:
        if path == cpuset_leaf and not fired:
            fired.append(path)
            os.rmdir(os.path.dirname(path))  # the other container's delete
        real_mkdir(path, mode)

    monkeypatch.setattr(os, "mkdir", racing_mkdir)
    m.create()
    monkeypatch.undo()
    assert fired
    parent_dir = os.path.dirname(cpuset_leaf)
    # Made again by us, so ours to remove, and usable.
    assert parent_dir in m.created
    assert _read(cpuset_leaf, "cpuset.cpus") and _read(cpuset_leaf, "cpuset.mems")
    assert _read(parent_dir, "cpuset.cpus") == _read(f"{CG}/cpuset", "cpuset.cpus")
    assert _join_in_child(m) == 0
    m.destroy()
    assert not os.path.isdir(cpuset_leaf)


def test_a_level_emptied_after_create_is_repaired_at_join(parent: str) -> None:
    """Something emptied the slot's cpus between create and join (another tool
    resetting it, a level replaced): the joining child refills it from its
    parent once instead of failing with ENOSPC."""
    m = new_v1("scale-b", f"{parent}/slot0")
    m.create()
    try:
        leaf = m.dirs["cpuset"]
        with open(os.path.join(leaf, "cpuset.cpus"), "w") as f:
            f.write("\n")
        assert _read(leaf, "cpuset.cpus") == ""
        assert _join_in_child(m) == 0
        assert _read(leaf, "cpuset.cpus") == _read(os.path.dirname(leaf), "cpuset.cpus")
    finally:
        m.destroy()


WORKERS = int(os.environ.get("RUNCGO_CPUSET_RACE_WORKERS", "12"))
ROUNDS = int(os.environ.get("RUNCGO_CPUSET_RACE_ROUNDS", "30"))


def _worker(parent: str, w: int, out: int) -> None:  # pragma: no cover - child
    """One orchestrator slot: create, join from a child, destroy, ROUNDS times.
    Writes one line per failure to ``out``."""
    fails = []
    for r in range(ROUNDS):
        m = new_v1(f"scale-{w}", f"{parent}/slot{w}")
        try:
            m.create()
        except Exception as e:
            fails.append(f"round {r} create: {e}")
            continue
        code = _join_in_child(m)
        if code:
            fails.append(f"round {r} join: {os.strerror(code)}")
        try:
            m.destroy()
        except Exception as e:
            fails.append(f"round {r} destroy: {e}")
    os.write(out, "".join(f"{f}\n" for f in fails).encode())


@pytest.mark.parametrize("before", ["filled", "empty", "absent"])
def test_concurrent_slots_under_a_shared_parent(parent: str, before: str) -> None:
    """WORKERS processes, each making, joining and removing its own slot ROUNDS
    times under one parent.  ``absent``: the parent is made by whichever create
    comes first and removed with it when empty, so it comes and goes meanwhile."""
    if before != "absent":
        _make_parent(parent, filled=before == "filled")
    r, w = os.pipe()
    pids = []
    for k in range(WORKERS):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 0
            try:
                os.close(r)
                _worker(parent, k, w)
            except BaseException:
                code = 1
            os._exit(code)
        pids.append(pid)
    os.close(w)
    with os.fdopen(r) as f:
        failures = [line for line in f.read().splitlines() if line]
    codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
    assert codes == [0] * WORKERS
    assert failures == [], f"{len(failures)} of {WORKERS * ROUNDS} failed: {failures[:3]}"
    slots = [os.path.join(d, n) for d in tops(parent) for n in os.listdir(d)
             if os.path.isdir(os.path.join(d, n))]
    assert slots == [], f"slots left behind: {slots[:3]}"
