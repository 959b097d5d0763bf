"""Putting a new process in its cgroup without the kernel's global lock.

The obvious way -- the parent writes the child's pid to ``cgroup.procs`` of
every hierarchy -- takes ``cgroup_threadgroup_rwsem`` for writing, and the
first writer after a quiet spell waits out an RCU grace period: ~10 ms here,
on the critical path of every ``create`` and ``exec`` (runc pays it too).
Two ways around it, both used when the driver allows (:meth:`self_join`):

* cgroup2 (v2 hosts, and the ``unified`` mount of hybrid ones): the child is
  *born* in the cgroup, clone3(CLONE_INTO_CGROUP);
* cgroup v1 hierarchies: the child writes ``0`` (itself, one thread) to each
  hierarchy's ``tasks`` file; a thread moving itself skips the global lock.

The child joins before it does anything else, so everything it forks -- the
container's init, an exec'd process -- inherits the cgroups.  If clone3 is
refused (old kernel, a seccomp filter, a cgroup2 directory that can't take
processes) the caller falls back to a plain fork and :meth:`apply`, which
reports the reason properly.
"""

from __future__ import annotations

import os

from .. import syscalls as sc
from .base import CgroupManager

__all__ = ["fork_joined", "join_tasks"]


def fork_joined(cg: CgroupManager | None) -> tuple[int, list[str] | None]:
    """fork(); returns (pid, tasks): ``tasks`` is None when the parent must still
    :meth:`apply` the child, else the v1 ``tasks`` files the child joins itself
    (:func:`join_tasks`, first thing after the fork; maybe an empty list)."""
    how = cg.self_join() if cg is not None else None
    if how is None:
        return os.fork(), None
    into, tasks = how
    if into is None:
        return os.fork(), tasks
    try:
        fd = os.open(into, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return os.fork(), None
    try:
        return sc.fork_into_cgroup(fd), tasks
    except OSError:
        return os.fork(), None
    finally:
        os.close(fd)


def join_tasks(tasks: list[str]) -> None:
    """Move the calling (single-threaded) process into each v1 hierarchy."""
    for path in tasks:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise OSError(exc.errno, f"join cgroup {os.path.dirname(path)}") from None
        try:
            os.write(fd, b"0")
        except OSError as exc:
            raise OSError(exc.errno, f"join cgroup {os.path.dirname(path)}") from None
        finally:
            os.close(fd)
