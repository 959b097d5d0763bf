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

import errno
import os

from ..._record import record
from ...errors import RuncgoError, SetupError, strerror
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
        return Forked(_fork(), tasks, False)
    finally:
        if fd >= 0:
            os.close(fd)


def _fork() -> int:
    """os.fork(), its failure said in one line: at scale EAGAIN is a limit reached."""
    try:
        return os.fork()
    except OSError as exc:
        hint = (" (a pids cgroup limit, RLIMIT_NPROC or kernel.pid_max reached)"
                if exc.errno == errno.EAGAIN else "")
        raise SetupError("fork", "", exc.errno or 0,
                         f"fork the container's init: {strerror(exc.errno or 0)}{hint}") from None


def join_tasks(tasks: list[str]) -> None:
    """Move the calling (single-threaded) process into each v1 hierarchy.

    ENOSPC from a cpuset means its cpus or mems are empty: the parent filled
    them before forking us, so something emptied or replaced a level since
    (another runtime, an administrator).  That is repaired once, from the
    parent cgroups, and the join retried once; a second ENOSPC is the error.
    """
    for path in tasks:
        try:
            _write_zero(path)
        except OSError as exc:
            d = os.path.dirname(path)
            if exc.errno == errno.ENOSPC and os.path.exists(os.path.join(d, "cpuset.cpus")):
                from .v1_resources import cpuset_fill

                try:
                    cpuset_fill(d)
                    _write_zero(path)
                    continue
                except (OSError, RuncgoError):
                    pass
            raise OSError(exc.errno, f"join cgroup {d}") from None


def _write_zero(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)
