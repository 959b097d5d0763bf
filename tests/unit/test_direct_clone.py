"""When create clones the init straight into its namespaces, and when it needs
the setup child (kernel/preexec.direct_clone_flags)."""

from __future__ import annotations

import pytest

from runcgo.kernel import preexec
from runcgo.kernel import syscalls as sc
from runcgo.spec import Process


def plan(namespaces: dict[str, str | None]) -> preexec.InitPlan:
    return preexec.InitPlan(container_id="c", rootfs_path="/r", process=Process(cwd="/"),
                            namespaces=namespaces, rootfs=None)


def test_new_namespaces_are_cloned_and_the_cgroup_one_is_left_to_the_init() -> None:
    ns: dict[str, str | None] = {"mount": None, "network": None, "uts": None, "pid": None,
                                 "ipc": None, "cgroup": None}
    flags = preexec.direct_clone_flags(plan(ns))
    assert flags == (sc.CLONE_NEWNS | sc.CLONE_NEWNET | sc.CLONE_NEWUTS | sc.CLONE_NEWPID
                     | sc.CLONE_NEWIPC)
    assert not flags & sc.CLONE_NEWCGROUP  # made by the init once it is in its cgroups


@pytest.mark.parametrize("ns", [
    {"mount": None, "pid": None, "user": None},             # the parent writes uid/gid maps
    {"mount": None, "pid": None, "time": None},             # offsets before anyone enters
    {"mount": None, "network": "/proc/1/ns/net"},           # joined by path first
    {"mount": None, "pid": "/proc/1/ns/pid"},
])
def test_setup_child_when_something_comes_first(ns: dict[str, str | None]) -> None:
    assert preexec.direct_clone_flags(plan(ns)) == 0
