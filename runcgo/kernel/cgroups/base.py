"""What every cgroup driver shares: the manager interface, the error type and
the small file helpers.

cgroup files are pseudo-files: they must be opened without O_CREAT (a typo in
a file name must not silently create a regular file in a fake tree, and on
cgroupfs it fails anyway) and written in a single write(2), because the
kernel parses each write separately.  Errors name the OCI resource, not just
the file, so the user learns *what* the host cannot honour.
"""

from __future__ import annotations

import abc
import errno
import os
import time

from ..._lite import suppress
from ...errors import RuncgoError

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from ...spec import LinuxDevice, LinuxResources


class _Log:
    """printf-style front for runcgo.log (``logging`` costs ~3 ms to import)."""

    @staticmethod
    def _emit(level: str, msg: str, args: tuple[object, ...]) -> None:
        from ... import log as runcgo_log

        runcgo_log.emit(level, msg % args if args else msg)

    def debug(self, msg: str, *args: object) -> None:
        self._emit("debug", msg, args)

    def info(self, msg: str, *args: object) -> None:
        self._emit("info", msg, args)

    def warning(self, msg: str, *args: object) -> None:
        self._emit("warning", msg, args)


log = _Log()

CGROUP_ROOT = "/sys/fs/cgroup"


class CgroupError(RuncgoError):
    """A cgroup operation failed; the message names the resource or path."""


def write_file(dirpath: str, name: str, value: str | int, resource: str = "") -> None:
    """Write ``value`` to the cgroup file ``dirpath/name`` in one write(2)."""
    path = os.path.join(dirpath, name)
    data = str(value).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_TRUNC)
    except FileNotFoundError:
        what = f"{resource}: " if resource else ""
        raise CgroupError(f"{what}{path} does not exist (controller not available on this "
                          "host?)") from None
    except OSError as e:
        raise CgroupError(f"open {path}: {os.strerror(e.errno or 0).lower()}") from e
    try:
        os.write(fd, data)
    except OSError as e:
        what = f"{resource}: " if resource else ""
        raise CgroupError(f"{what}write {data.decode()!r} to {path}: "
                          f"{os.strerror(e.errno or 0).lower()}") from e
    finally:
        os.close(fd)


def read_file(dirpath: str, name: str) -> str:
    """The stripped content of ``dirpath/name`` (raises OSError if absent)."""
    with open(os.path.join(dirpath, name)) as f:
        return f.read().strip()


def read_int(dirpath: str, name: str, default: int = 0) -> int:
    """An integer file; ``max`` reads as -1 (unlimited), absent as ``default``."""
    try:
        s = read_file(dirpath, name)
    except OSError:
        return default
    if s == "max":
        return -1
    try:
        return int(s.split()[0]) if s else default
    except ValueError:
        return default


def read_keyed(dirpath: str, name: str) -> dict[str, int]:
    """A flat-keyed file (``key value`` per line) such as memory.stat."""
    out: dict[str, int] = {}
    try:
        text = read_file(dirpath, name)
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def has_file(dirpath: str, name: str) -> bool:
    return os.path.exists(os.path.join(dirpath, name))


def read_procs(dirpath: str, recursive: bool = True) -> list[int]:
    """Pids in a cgroup directory and (by default) all its descendants."""
    pids: list[int] = []
    for top, _dirs, files in os.walk(dirpath) if recursive else [(dirpath, [], ["cgroup.procs"])]:
        if "cgroup.procs" not in files:
            continue
        try:
            with open(os.path.join(top, "cgroup.procs")) as f:
                pids.extend(int(x) for x in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return sorted(set(pids))


def mkdir_p(path: str, created: list[str]) -> list[str]:
    """Create ``path`` and missing parents; return (and record) the ones we made.

    A parent shared with other containers can be removed under us (the
    container that made it was deleted just now, and it was empty for a
    moment): then the missing levels are looked up again from ``path`` and
    made again -- a few times, each time because the tree really changed.
    """
    made: list[str] = []
    for attempt in range(5):
        todo: list[str] = []
        cur = path
        while not os.path.isdir(cur):
            todo.append(cur)
            parent = os.path.dirname(cur)
            if parent == cur:
                break
            cur = parent
        for p in reversed(todo):
            try:
                os.mkdir(p, 0o755)
            except FileExistsError:
                continue
            except FileNotFoundError:
                if attempt < 4:
                    break  # a level above vanished: look again from the top
                raise CgroupError(f"mkdir {p}: no such file or directory") from None
            except OSError as e:
                raise CgroupError(f"mkdir {p}: {os.strerror(e.errno or 0).lower()}") from e
            made.append(p)
            if p not in created:
                created.append(p)
        else:
            return made
    return made


def _has_subdirs(path: str) -> bool:
    try:
        with os.scandir(path) as it:
            return any(e.is_dir(follow_symlinks=False) for e in it)
    except OSError:
        return False


def pidns_of(pid: str) -> str | None:
    """The pid namespace of ``pid`` ("pid:[inode]"), None once it is gone."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _foreign_procs(path: str) -> list[str]:
    """Pids in ``path``'s cgroup.procs that live in a pid namespace other than ours:
    another container's, one with a pid namespace of its own, that shares this
    cgroupsPath.  (A process in ours may be a straggler of the container being
    removed, racing in -- an exec -- or on its way out.)"""
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            pids = f.read().split()
    except OSError:
        return []
    here = pidns_of("self")
    return [p for p in pids if pidns_of(p) not in (here, None)]


def _in_use_by_others(path: str) -> bool:
    """EBUSY that waiting won't end: sub-cgroups, or another container's processes."""
    return _has_subdirs(path) or bool(_foreign_procs(path))


def remove_unused(dirs: Sequence[str]) -> None:
    """rmdir each of ``dirs`` that is there and empty (no process, no sub-cgroup),
    whoever made it: at delete, runc removes the container's cgroupsPath even when
    another container sharing it made it (and kept it while this one still ran)."""
    for d in dirs:
        if os.path.isdir(d) and not _in_use_by_others(d):
            with suppress(OSError):
                os.rmdir(d)


def _rmdir_waiting(p: str, deadline: float,
                   busy_for_good: Callable[[str], bool] = lambda _p: False) -> OSError | None:
    """rmdir ``p``; None once it is gone, else the error that stopped us.

    rmdir of a cgroup fails with EBUSY while it still has tasks, and right after
    the last process exits the kernel may need a moment to notice: EBUSY is
    retried until ``deadline`` unless ``busy_for_good(p)`` says waiting is pointless.
    """
    while True:
        try:
            os.rmdir(p)
            return None
        except FileNotFoundError:
            return None
        except OSError as e:
            if (e.errno in (errno.EBUSY, errno.EAGAIN) and not busy_for_good(p)
                    and time.monotonic() < deadline):
                time.sleep(0.01)
                continue
            return e


def rmdir_created(created: Sequence[str], timeout: float = 2.0) -> None:
    """Remove the directories we made, deepest first."""
    deadline = time.monotonic() + timeout
    for p in sorted(set(created), key=lambda s: s.count("/"), reverse=True):
        e = _rmdir_waiting(p, deadline, _in_use_by_others)
        if e is None:
            continue
        if e.errno in (errno.EBUSY, errno.EAGAIN) and _has_subdirs(p):
            # Someone else made a sub-cgroup in it (a shared prefix, a nested
            # runtime): not ours to remove.  (cgroupfs says EBUSY, not ENOTEMPTY.)
            # Checked only on failure: a cgroup directory lists dozens of files.
            log.debug("cgroup %s kept: it has child cgroups", p)
        elif e.errno in (errno.EBUSY, errno.EAGAIN) and _foreign_procs(p):
            # Another container with the same cgroupsPath still runs in it: runc
            # logs that it failed to remove the cgroup and goes on; so do we.
            log.warning("cgroup %s not removed: %d process(es) of another container are "
                        "in it", p, len(_foreign_procs(p)))
        elif e.errno == errno.ENOTEMPTY:
            log.warning("cgroup %s not removed: it has child cgroups", p)
        else:
            raise CgroupError(f"remove cgroup {p}: {os.strerror(e.errno or 0).lower()}") from e


def remove_children(path: str, timeout: float = 2.0) -> None:
    """Remove every cgroup below ``path`` (not ``path`` itself), deepest first.

    The container may make sub-cgroups of its own (a writable cgroup mount,
    ``exec --cgroup``, a runtime nested in it); they are part of it and go
    with it, as with runc, or its cgroup could never be removed.  Called after
    its processes were killed, so EBUSY first means the kernel has not yet
    seen the last one exit (retried briefly).  One that stays busy (something
    outside the container put a process there) is kept, and with it its
    parents: rmdir_created then says so.
    """
    deadline = time.monotonic() + timeout
    for p in [top for top, _dirs, _files in os.walk(path, topdown=False) if top != path]:
        e = _rmdir_waiting(p, deadline)
        if e is None:
            continue
        if e.errno in (errno.EBUSY, errno.EAGAIN, errno.ENOTEMPTY):
            log.warning("cgroup %s not removed: it is still in use", p)
        else:
            raise CgroupError(f"remove cgroup {p}: {os.strerror(e.errno or 0).lower()}") from e


class CgroupManager(abc.ABC):
    """One container's cgroup(s).  See the package docstring for the contract."""

    driver: str = ""
    path: str = ""

    @abc.abstractmethod
    def create(self) -> None: ...

    @abc.abstractmethod
    def apply(self, pid: int) -> None: ...

    @abc.abstractmethod
    def set(self, resources: LinuxResources | None, *,
            devices: Sequence[LinuxDevice] | None = None) -> None: ...

    @abc.abstractmethod
    def destroy(self) -> None: ...

    def leaf_dirs(self) -> list[str]:
        """The container's own cgroup directories (its cgroupsPath in each hierarchy)."""
        return []

    @abc.abstractmethod
    def freeze(self) -> None: ...

    @abc.abstractmethod
    def thaw(self) -> None: ...

    @abc.abstractmethod
    def freezer_state(self) -> str: ...

    @abc.abstractmethod
    def pids(self) -> list[int]: ...

    @abc.abstractmethod
    def stats(self) -> dict[str, Any]: ...

    @abc.abstractmethod
    def to_state(self) -> dict[str, Any]: ...

    @abc.abstractmethod
    def mount_in_container(self, target: str, readonly: bool, flags: int,
                           cgroupns: bool) -> None: ...

    def kill_all(self, sig: int) -> None:
        """Signal every process in the cgroup (``kill --all``).

        The cgroup is frozen while we list and signal, so a process cannot fork
        a child we have not seen yet; without a freezer we just signal.
        """
        frozen = False
        try:
            if self.freezer_state() != "frozen":
                self.freeze()
                frozen = True
        except CgroupError:
            pass
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    continue
        finally:
            if frozen:
                self.thaw()

    @abc.abstractmethod
    def exists(self) -> bool:
        """Whether the container's cgroup directory is still there."""

    @abc.abstractmethod
    def memory_dir(self) -> str | None:
        """The directory holding the memory controller's files (OOM events)."""

    def sub(self, paths: dict[str, str]) -> CgroupManager:
        """A manager whose :meth:`apply` joins sub-cgroups of this one
        (``exec --cgroup``): ``paths`` maps a controller to a path relative to
        the container's cgroup, or ``""`` to one path for every hierarchy."""
        raise CgroupError(f"--cgroup is not supported by the {self.driver} cgroup driver")

    def self_join(self) -> tuple[str | None, list[str]] | None:
        """How a forked child can enter this cgroup without the parent's help:
        (cgroup2 directory to be born in through clone3, v1 ``tasks`` files the
        child writes ``0`` into).  Both avoid the kernel's global lock that a
        write of another pid to ``cgroup.procs`` takes (see
        :func:`runcgo.kernel.cgroups.selfjoin.fork_joined`).  None: only
        :meth:`apply` will do (systemd places the process itself)."""
        return None
