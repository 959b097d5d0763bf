"""A child enters its cgroup by itself: born in the cgroup2 dir (clone3
CLONE_INTO_CGROUP), joining v1 hierarchies through ``tasks`` -- and the plain
fork + apply fallback when the kernel refuses.  Real cgroupfs, root only."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest

from runcgo.kernel import syscalls as sc
from runcgo.kernel.cgroups import CgroupManager
from runcgo.kernel.cgroups.selfjoin import fork_joined, join_tasks
from runcgo.kernel.cgroups.v1 import V1Manager

from .conftest import real

pytestmark = [real, pytest.mark.root]

MakeCg = Callable[[], CgroupManager]


def hybrid(make_cgroup: MakeCg) -> V1Manager:
    m = make_cgroup()
    if not isinstance(m, V1Manager) or "unified" not in m.dirs:
        pytest.skip("v1 + cgroup2 (hybrid) host only; the cgroup2 VM tier covers v2")
    return m


def _own_cgroups_after(m: CgroupManager | None) -> tuple[list[str] | None, dict[str, str]]:
    """fork_joined(m); the child joins its tasks and reports /proc/self/cgroup."""
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    forked = fork_joined(m.self_join() if m is not None else None)
    pid, tasks = forked.pid, forked.tasks
    if pid == 0:  # child
        try:
            os.close(r)
            os.close(go_w)
            join_tasks(tasks or [])
            os.read(go_r, 1)  # the parent's apply (fallback) is done
            with open("/proc/self/cgroup") as f:
                os.write(w, json.dumps(f.read()).encode())
        finally:
            os._exit(0)
    os.close(w)
    os.close(go_r)
    try:
        if tasks is None and m is not None:
            m.apply(pid)  # the fallback: what create/exec do
        os.close(go_w)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    lines = json.loads(data).splitlines()
    by_hierarchy = {ln.split(":", 2)[1] or "unified": ln.split(":", 2)[2] for ln in lines}
    return tasks, by_hierarchy


def test_child_is_born_in_cgroup2_and_joins_every_v1_hierarchy(make_cgroup: MakeCg) -> None:
    m = hybrid(make_cgroup)
    tasks, seen = _own_cgroups_after(m)
    assert tasks is not None, "clone3(CLONE_INTO_CGROUP) was refused on this kernel"
    assert sorted(tasks) == sorted(os.path.join(d, "tasks") for n, d in m.dirs.items()
                                   if n != "unified")
    # Every hierarchy, the cgroup2 one included, now says our path; the
    # cgroup2 one before the child ran any code (it never wrote there).
    for hierarchy, path in seen.items():
        assert path == m.path, (hierarchy, path)
    assert "unified" in seen


def test_clone_into_a_missing_cgroup2_dir_falls_back_to_apply(make_cgroup: MakeCg) -> None:
    m = hybrid(make_cgroup)
    unified = m.dirs["unified"]
    m.dirs["unified"] = unified + "-missing"
    try:
        assert fork_joined_tasks(m) is None
    finally:
        m.dirs["unified"] = unified


def test_clone_into_a_v1_dir_is_refused_and_falls_back(make_cgroup: MakeCg) -> None:
    """A cgroup v1 directory is no cgroup2 fd: the kernel says EBADF, we fork."""
    m = hybrid(make_cgroup)
    fd = os.open(m.dirs["memory"], os.O_PATH | os.O_DIRECTORY)
    try:
        with pytest.raises(OSError) as e:
            sc.clone3(0, fd)
        assert "clone3" in str(e.value)
    finally:
        os.close(fd)
    unified = m.dirs["unified"]
    m.dirs["unified"] = m.dirs["memory"]
    try:
        tasks, seen = _own_cgroups_after(m)
    finally:
        m.dirs["unified"] = unified
    assert tasks is None
    assert seen["memory"] == m.path  # placed by apply instead


def test_join_error_names_the_cgroup(tmp_path: object) -> None:
    with pytest.raises(OSError) as e:
        join_tasks(["/sys/fs/cgroup/memory/runcgo-no-such-cgroup/tasks"])
    assert "join cgroup /sys/fs/cgroup/memory/runcgo-no-such-cgroup" in str(e.value)


def fork_joined_tasks(m: CgroupManager) -> list[str] | None:
    forked = fork_joined(m.self_join())
    if forked.pid == 0:
        os._exit(0)
    os.waitpid(forked.pid, 0)
    return forked.tasks
