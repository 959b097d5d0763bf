"""Resolve and create paths inside the rootfs without ever leaving it.

Every destination inside the container (mount targets, devices, cwd, masked
paths) goes through here.  The kernel does the resolution (openat2 with
RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), so a symlink in an image can't make
us touch a host path; we then mount onto ``/proc/self/fd/N`` of the opened
target instead of re-resolving the path (the CVE-2021-30465 class).

A relative symlink that climbs above the rootfs is reported as an error
rather than silently clamped: it is almost always an attack or a broken image.
"""

from __future__ import annotations

import errno
import os
import stat

# openat2's RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS (syscalls.py names them): spelled
# here so that resolve() alone -- checkpoint's destinations -- does not load ctypes.
_RESOLVE = 0x10 | 0x02
_MAX_LINKS = 40


class EscapeError(OSError):
    """A path inside the rootfs resolves (through a symlink) to outside it."""


def open_in_root(rootfd: int, path: str, flags: int = os.O_PATH, mode: int = 0) -> int:
    from . import syscalls as sc

    return sc.openat2(rootfd, path.lstrip("/") or ".", flags, _RESOLVE, mode)


def resolve(rootfd: int, path: str) -> str:
    """The symlink-free form of ``path`` inside the root (as the kernel would walk it).

    Absolute links restart at the rootfs; missing components are kept as they
    are (they will be created); a relative link that climbs above the root
    raises EscapeError.  The result is only a plan: every open still goes
    through openat2(RESOLVE_IN_ROOT), so a race can't turn it into an escape.
    """
    todo = [c for c in path.split("/") if c not in ("", ".")]
    todo.reverse()
    stack: list[str] = []
    links = 0
    while todo:
        comp = todo.pop()
        if comp == "..":
            if not stack:
                raise EscapeError(errno.EXDEV, f"path {path} escapes the rootfs")
            stack.pop()
            continue
        cur = "/".join([*stack, comp])
        try:
            target = os.readlink(cur, dir_fd=rootfd)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOENT, errno.ENOTDIR):
                stack.append(comp)
                continue
            raise
        links += 1
        if links > _MAX_LINKS:
            raise OSError(errno.ELOOP, f"resolve {path}")
        parts = [c for c in target.split("/") if c not in ("", ".")]
        if target.startswith("/"):
            stack = []  # absolute links are interpreted inside the rootfs
        else:
            depth = len(stack)
            for c in parts:
                depth += -1 if c == ".." else 1
                if depth < 0:
                    raise EscapeError(errno.EXDEV,
                                      f"path {path}: symlink /{cur} -> {target} escapes the rootfs")
        todo.extend(reversed(parts))
    return "/" + "/".join(stack)


def check_no_escape(rootfd: int, path: str) -> None:
    resolve(rootfd, path)


def mkdir_all(rootfd: int, path: str, mode: int = 0o755) -> int:
    """Create ``path`` (a directory) inside the root; return an O_PATH fd to it."""
    path = resolve(rootfd, path)
    comps = [c for c in path.split("/") if c]
    fd = os.dup(rootfd)
    try:
        for i, comp in enumerate(comps):
            sub = "/".join(comps[: i + 1])
            try:
                nfd = open_in_root(rootfd, sub, os.O_PATH | os.O_DIRECTORY)
            except FileNotFoundError:
                dfd = os.open(fd_path(fd), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    os.mkdir(comp, mode, dir_fd=dfd)
                except FileExistsError:
                    pass
                finally:
                    os.close(dfd)
                nfd = open_in_root(rootfd, sub, os.O_PATH | os.O_DIRECTORY)
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def create_file(rootfd: int, path: str, mode: int = 0o644) -> int:
    """Make sure a non-directory exists at ``path`` inside the root; O_PATH fd to it."""
    path = resolve(rootfd, path)
    try:
        return open_in_root(rootfd, path)
    except FileNotFoundError:
        pass
    parent, _, name = path.rstrip("/").rpartition("/")
    pfd = mkdir_all(rootfd, parent or "/")
    try:
        dfd = os.open(fd_path(pfd), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
                             | os.O_CLOEXEC, mode, dir_fd=dfd))
        except FileExistsError:
            pass
        finally:
            os.close(dfd)
        return open_in_root(rootfd, path)
    finally:
        os.close(pfd)


def prepare_target(rootfd: int, path: str, is_dir: bool) -> int:
    """Open (creating as needed) a mount target; the fd's type matches the source."""
    if is_dir:
        return mkdir_all(rootfd, path)
    return create_file(rootfd, path)


def fd_path(fd: int) -> str:
    """The magic-link path of an fd, usable as a mount(2) target."""
    return f"/proc/self/fd/{fd}"


def is_dir_fd(fd: int) -> bool:
    return stat.S_ISDIR(os.fstat(fd).st_mode)
