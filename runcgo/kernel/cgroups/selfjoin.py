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

clone3 can also create the new namespaces at once (``ns_flags``): then the
child is the container's init, and no intermediate process is needed.
"""

from __future__ import annotations

import os

from ..._record import record
from .. import syscalls as sc

__all__ = ["Forked", "fork_joined", "join_tasks"]


@record
class Forked:
    """What :func:`fork_joined` did.  ``tasks``: None when the parent must still
    :meth:`apply` the child, else the v1 ``tasks`` files the child joins itself
    (:func:`join_tasks`, first thing; maybe none).  ``in_namespaces``: the
    child was born in the new namespaces asked for."""

    pid: int
    tasks: list[str] | None
    in_namespaces: bool


def fork_joined(how: tuple[str | None, list[str]] | None, ns_flags: int = 0) -> Forked:
    """fork(), the child born in its cgroup2 directory and, with ``ns_flags``
    (CLONE_NEW*), in new namespaces -- as far as the kernel allows.  ``how``
    is the manager's :meth:`self_join` (None: the parent will apply).  When
    the kernel refuses, a plain fork: the caller unshares and applies as before."""
    into, tasks = how if how is not None else (None, None)
    fd = -1
    if into is not None:
        try:
            fd = os.open(into, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            tasks = None  # let apply() say what is wrong with the directory
    try:
        if fd >= 0 or ns_flags:
            try:
                return Forked(sc.clone3(ns_flags, fd), tasks, bool(ns_flags))
            except OSError:
                if fd >= 0:
                    tasks = None
        return Forked(os.fork(), tasks, False)
    finally:
        if fd >= 0:
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
