"""OOM notifications as a pollable fd.

v1: the memory controller signals an eventfd registered through
``cgroup.event_control`` ("<eventfd> <fd of memory.oom_control>") each time
the cgroup hits OOM.  The same eventfd also fires when the cgroup is removed,
so a wake-up with the directory gone is not an OOM.

v2: there is no event registration; ``memory.events`` is a file whose
``oom_kill`` counter grows, and the kernel emits an inotify IN_MODIFY on it.
We watch it with inotify and compare counters.
"""

from __future__ import annotations

import ctypes
import os

from ..syscalls import libc as _libc
from .base import CgroupError, read_keyed, write_file

_IN_MODIFY = 0x2
_IN_CLOEXEC = 0o2000000
_IN_NONBLOCK = 0o4000



class OOMWatcher:
    """Readable (``fileno``) when something may have happened; ``check`` counts OOMs."""

    def __init__(self, memory_dir: str, v2: bool) -> None:
        self.dir = memory_dir
        self.v2 = v2
        self._last = 0
        self._aux = -1
        if v2:
            fd = int(_libc.inotify_init1(_IN_CLOEXEC | _IN_NONBLOCK))
            if fd < 0:
                raise OSError(ctypes.get_errno(), "inotify_init1")
            self._fd: int = fd
            path = os.fsencode(os.path.join(memory_dir, "memory.events"))
            if _libc.inotify_add_watch(fd, path, _IN_MODIFY) < 0:
                err = ctypes.get_errno()
                os.close(fd)
                raise CgroupError(f"events: watch {path.decode()}: {os.strerror(err).lower()}")
            self._last = self._count()
        else:
            self._fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
            try:
                self._aux = os.open(os.path.join(memory_dir, "memory.oom_control"),
                                    os.O_RDONLY | os.O_CLOEXEC)
                write_file(memory_dir, "cgroup.event_control", f"{self._fd} {self._aux}",
                           "memory OOM notification")
            except BaseException:
                self.close()
                raise

    def fileno(self) -> int:
        return self._fd

    def _count(self) -> int:
        return read_keyed(self.dir, "memory.events").get("oom_kill", 0)

    def check(self) -> int:
        """How many OOM events arrived since the last call (never blocks)."""
        if self.v2:
            try:
                while os.read(self._fd, 4096):
                    pass
            except BlockingIOError:
                pass
            now = self._count()
            new, self._last = max(0, now - self._last), max(now, self._last)
            return new
        try:
            n = os.eventfd_read(self._fd)
        except BlockingIOError:
            return 0
        if not os.path.isdir(self.dir):
            return 0  # the wake-up was the cgroup going away
        return int(n)

    def close(self) -> None:
        for fd in (self._fd, self._aux):
            if fd >= 0:
                os.close(fd)
        self._fd = self._aux = -1

    def __enter__(self) -> OOMWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def watch(memory_dir: str | None) -> OOMWatcher | None:
    """An OOM watcher for a memory cgroup directory (v1 or v2 told apart by its
    files), or None when there is no memory controller to watch."""
    if not memory_dir or not os.path.isdir(memory_dir):
        return None
    if os.path.exists(os.path.join(memory_dir, "memory.oom_control")):
        return OOMWatcher(memory_dir, v2=False)
    if os.path.exists(os.path.join(memory_dir, "memory.events")):
        return OOMWatcher(memory_dir, v2=True)
    return None
