"""Build the container's root filesystem inside its new mount namespace.

Runs in the pre-exec child.  Order (as the spec and runc's experience want):
propagation of / -> rootfs bind onto itself -> config mounts (targets opened
with paths.py, mounted through /proc/self/fd) -> /dev devices and symlinks ->
[hooks] -> pivot_root (or MS_MOVE + chroot) -> sysctl / readonly / masked
paths -> read-only tmpfs and /dev -> read-only root.
"""

from __future__ import annotations

import os
import stat

from .._lite import suppress
from .._record import field, record
from ..spec import LinuxDevice, Mount
from . import mountopts, oldroot
from . import paths as P
from . import syscalls as sc
from . import sysctl as sysctls  # imported now: after pivot_root the host files are gone
from .mountinfo import unescape

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

DEFAULT_DEVICES = [  # all directly in /dev (_make_devices resolves it once)
    # path, major, minor
    ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
    ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
]
DEV_SYMLINKS = [
    ("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
]
_PROPAGATION = {
    "": sc.MS_SLAVE | sc.MS_REC, "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC, "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC, "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}


@record
class RootfsPlan:
    rootfs: str
    mounts: list[Mount]
    devices: list[LinuxDevice]
    propagation: str
    readonly: bool
    no_pivot: bool
    in_userns: bool
    cgroupns: bool
    own_mountns: bool = True  # False: a mount namespace joined by path (not ours to clean)
    mount_cgroup: Callable[[str, bool, int, bool], None] | None = None
    # Mount index -> O_PATH fd of its bind source, opened with the runtime's
    # privileges when the init can't reach it itself (kernel/mountsources.py);
    # for an idmapped mount, the detached idmapped tree itself.
    source_fds: dict[int, int] = field(default_factory=dict)
    # Mount index -> what its idmapping needs (kernel/idmapmount.py).
    idmaps: dict[int, Any] = field(default_factory=dict)


def prepare(plan: RootfsPlan) -> None:
    """Everything before pivot_root: runs with host paths still visible."""
    root_flags = (_PROPAGATION[plan.propagation]
                  if plan.propagation in ("slave", "rslave", "private", "rprivate", "",
                                          "shared", "rshared")
                  else sc.MS_SLAVE | sc.MS_REC)
    sc.mount(None, "/", None, root_flags)
    if root_flags & sc.MS_SHARED:
        _make_rootfs_parent_private(plan.rootfs)
    sc.mount(plan.rootfs, plan.rootfs, None, sc.MS_BIND | sc.MS_REC)
    rootfd = os.open(plan.rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        dev_bound = False
        for i, m in enumerate(plan.mounts):
            if i in plan.idmaps:
                _mount_idmapped(rootfd, m, plan.idmaps[i], plan.source_fds.get(i))
                continue
            _mount_one(rootfd, plan, m, plan.source_fds.get(i))
            if m.destination.rstrip("/") == "/dev" and (m.type == "bind" or mountopts.parse(m.options).is_bind):
                dev_bound = True
        if not dev_bound:
            _make_devices(rootfd, plan)
        for d in plan.devices:
            if os.path.normpath(d.path) == "/dev/ptmx":
                continue  # always the link to the container's own pts/ptmx (engines list it anyway)
            _make_device(rootfd, d.path, d.type, d.major, d.minor,
                         d.file_mode if d.file_mode is not None else 0o666,
                         d.uid or 0, d.gid or 0, plan.in_userns)
    finally:
        os.close(rootfd)
        for fd in plan.source_fds.values():
            os.close(fd)
        plan.source_fds.clear()


def _mount_one(rootfd: int, plan: RootfsPlan, m: Mount, source_fd: int | None = None) -> None:
    mo = mountopts.parse(m.options)
    fstype = m.type or ("bind" if mo.is_bind else "")
    if fstype == "bind" and not mo.is_bind:
        mo.flags |= sc.MS_BIND
    source = m.source or fstype
    if mo.is_bind:
        if not m.source:
            raise OSError(2, f"bind mount to {m.destination} has no source")
        source = m.source  # made absolute (bundle-relative) when the plan was built
        if source_fd is not None:
            source = P.fd_path(source_fd)
            is_dir = P.is_dir_fd(source_fd)
        else:
            is_dir = os.path.isdir(source)
            if not os.path.exists(source):
                raise FileNotFoundError(2, f"bind mount source {source} for {m.destination}")
    else:
        is_dir = True
    if fstype in ("proc", "sysfs"):
        _refuse_symlink(rootfd, m.destination, fstype)
    target_fd = P.prepare_target(rootfd, m.destination, is_dir)
    try:
        target = P.fd_path(target_fd)
        if fstype == "cgroup":
            if plan.mount_cgroup is None:
                raise OSError(95, f"mount cgroup on {m.destination}")
            # The driver mounts and then creates entries below the new mount, so
            # it needs a path (the one the kernel resolved in-root), not the fd.
            plan.mount_cgroup(os.readlink(target), bool(mo.flags & sc.MS_RDONLY),
                              mo.flags & ~(sc.MS_RDONLY | sc.MS_BIND | sc.MS_REC), plan.cgroupns)
            # The cgroup driver mounted on a fresh mount: reopen for propagation.
        elif mo.is_bind:
            sc.mount(source, target, None, mo.flags & (sc.MS_BIND | sc.MS_REC))
            extra = mo.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
            if extra:
                # A bind mount takes its flags only on remount; keep locked flags.
                os.close(target_fd)
                target_fd = P.open_in_root(rootfd, m.destination)
                target = P.fd_path(target_fd)
                sc.mount(None, target, None,
                         sc.MS_BIND | sc.MS_REMOUNT | extra | _locked_flags(target))
        else:
            label = m.type or ""
            flags = mo.flags & ~sc.MS_RDONLY if _read_only_later(m) else mo.flags
            try:
                sc.mount(source, target, label, flags, mo.data_str)
            except OSError as exc:
                if not (fstype == "sysfs" and exc.errno == 1 and plan.in_userns):
                    raise OSError(exc.errno, f"mount {source!r} on {m.destination}") from None
                new_fd = _bind_host_sysfs(rootfd, m.destination, target, flags)
                os.close(target_fd)
                target_fd = new_fd
        if mo.propagation or mo.attr_set or mo.attr_clr:
            os.close(target_fd)
            target_fd = P.open_in_root(rootfd, m.destination)
            target = P.fd_path(target_fd)
            for prop in mo.propagation:
                sc.mount(None, target, None, prop)
            if mo.attr_set or mo.attr_clr:
                sc.mount_setattr(target, mo.attr_set, mo.attr_clr)
    except OSError as exc:
        if exc.strerror and exc.strerror.startswith("mount") and m.destination not in exc.strerror:
            raise OSError(exc.errno, f"{exc.strerror} ({m.destination})") from None
        raise
    finally:
        os.close(target_fd)


def _mount_idmapped(rootfd: int, m: Mount, req: Any, tree_fd: int | None) -> None:
    """An idmapped bind mount: attach the detached tree the opener made, or (no user
    namespace: we are host root) make it here.  Flags such as ro follow as on a bind."""
    from . import idmapmount

    if not m.source:
        raise OSError(2, f"idmapped mount to {m.destination} has no source")
    if tree_fd is None:
        if not os.path.exists(m.source):
            raise FileNotFoundError(2, f"bind mount source {m.source} for {m.destination}")
        tree = idmapmount.clone_idmapped(m.source, req, m.destination)
    else:
        tree = tree_fd
    try:
        is_dir = stat.S_ISDIR(os.fstat(tree).st_mode)
        target_fd = P.prepare_target(rootfd, m.destination, is_dir)
        try:
            idmapmount.attach(tree, target_fd, m.destination)
        finally:
            os.close(target_fd)
    finally:
        if tree_fd is None:
            os.close(tree)
    mo = mountopts.parse(m.options)
    extra = mo.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    if extra or mo.propagation or mo.attr_set or mo.attr_clr:
        fd = P.open_in_root(rootfd, m.destination)
        try:
            target = P.fd_path(fd)
            if extra:
                sc.mount(None, target, None,
                         sc.MS_BIND | sc.MS_REMOUNT | extra | _locked_flags(target))
            for prop in mo.propagation:
                sc.mount(None, target, None, prop)
            if mo.attr_set or mo.attr_clr:
                sc.mount_setattr(target, mo.attr_set, mo.attr_clr)
        finally:
            os.close(fd)


def _bind_host_sysfs(rootfd: int, dest: str, target: str, flags: int) -> int:
    """sysfs belongs to the network namespace: from a user namespace without a
    network namespace of its own (rootless, ``spec --rootless``) the kernel
    refuses a new one (EPERM).  Bind the host's /sys instead, recursively, with
    the flags asked for -- what ``runc spec --rootless`` writes into the config,
    and what later runc versions fall back to.  Returns the reopened target."""
    try:
        sc.mount("/sys", target, None, sc.MS_BIND | sc.MS_REC)
    except OSError as exc:
        raise OSError(exc.errno, f"mount 'sysfs' on {dest} (EPERM in a user namespace "
                      "without its own network namespace), and bind of /sys") from None
    fd = P.open_in_root(rootfd, dest)
    extra = flags & (sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    if extra:
        path = P.fd_path(fd)
        sc.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | extra | _locked_flags(path))
    return fd


def _read_only_later(m: Mount) -> bool:
    """A read-only tmpfs (or /dev) is mounted writable and made read-only in finish():
    devices, /dev/pts and the mount points of later mounts are made inside it first."""
    if not mountopts.parse(m.options).flags & sc.MS_RDONLY or m.type in ("bind", None):
        return False
    return m.type == "tmpfs" or os.path.normpath("/" + m.destination) == "/dev"


def _remount_read_only(mounts: list[Mount]) -> None:
    """The second half of _read_only_later, after pivot_root (paths are in-root now)."""
    rootfd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for m in mounts:
            if not _read_only_later(m) or mountopts.parse(m.options).is_bind:
                continue
            fd = P.open_in_root(rootfd, m.destination)
            try:
                target = P.fd_path(fd)
                sc.mount(None, target, None,
                         sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _locked_flags(target))
            finally:
                os.close(fd)
    finally:
        os.close(rootfd)


def _make_rootfs_parent_private(rootfs: str) -> None:
    """With a shared root (rootfsPropagation rshared, which containerd asks for when a
    volume is Bidirectional), the copies of the host's mounts stay peers of the host's,
    so a bind mount of a host directory (the volume) joins the host's peer group and
    mounts made under it in the container reach the host.  But the mount holding the
    rootfs must not be shared: binding the rootfs onto itself, and every mount made in
    it, would propagate to the host's copy of that mount (the image's overlay in the
    bundle), and pivot_root refuses a new root whose parent mount is shared.  Only
    that one mount is made private, and only in this mount namespace."""
    target = os.path.realpath(rootfs)
    best = ""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = unescape(line.split(" ", 5)[4])
            if (target == point or target.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
                best = point
    if best:
        sc.mount(None, best, None, sc.MS_PRIVATE)


def _refuse_symlink(rootfd: int, dest: str, fstype: str) -> None:
    """proc/sysfs only on a real directory: an image that makes /proc a symlink
    redirects every later write to /proc/self/... (CVE-2019-19921, CVE-2023-27561)."""
    path = P.resolve(rootfd, os.path.dirname(dest.rstrip("/")) or "/").lstrip("/")
    name = os.path.basename(dest.rstrip("/"))
    try:
        st = os.stat(os.path.join(path, name) if path else name, dir_fd=rootfd,
                     follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        # runc's wording, which scripts and runc's own tests match on.
        raise OSError(20, f'mount "{fstype}" on {dest}: filesystem "{fstype}" must be '
                          "mounted on ordinary directory (the image has a symlink or file there)")


def _locked_flags(path: str) -> int:
    """Flags a remount must keep (the kernel locks them in a user namespace)."""
    st = os.statvfs(path)
    flags = 0
    for st_flag, ms in ((os.ST_NOSUID, sc.MS_NOSUID), (os.ST_NODEV, sc.MS_NODEV),
                        (os.ST_NOEXEC, sc.MS_NOEXEC), (os.ST_RDONLY, 0)):
        if st.f_flag & st_flag:
            flags |= ms
    return flags


def _make_devices(rootfd: int, plan: RootfsPlan) -> None:
    opath = P.mkdir_all(rootfd, "/dev")
    devfd = _dirfd(opath)
    os.close(opath)
    try:
        for path, major, minor in DEFAULT_DEVICES:
            try:
                _make_node_in(devfd, path.rpartition("/")[2], path, "c", major, minor, 0o666,
                              0, 0, plan.in_userns)
            except OSError as exc:
                raise OSError(exc.errno, f"device {path}") from None
        links = [*DEV_SYMLINKS, ("pts/ptmx", "/dev/ptmx")]
        if os.path.exists("/proc/kcore"):
            links.append(("/proc/kcore", "/dev/core"))
        for target, name in links:
            with suppress(FileExistsError):
                os.symlink(target, os.path.basename(name), dir_fd=devfd)
    finally:
        os.close(devfd)


def _dirfd(opath_fd: int) -> int:
    """*at() calls that create need a real directory fd, not O_PATH: reopen it."""
    return os.open(P.fd_path(opath_fd), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _make_device(rootfd: int, path: str, kind: str, major: int, minor: int, mode: int,
                 uid: int, gid: int, in_userns: bool) -> None:
    try:
        _make_device_node(rootfd, path, kind, major, minor, mode, uid, gid, in_userns)
    except OSError as exc:
        if exc.strerror and path in exc.strerror:
            raise
        raise OSError(exc.errno, f"device {path}") from None


_RUNTIME_NODES = frozenset(p for p, _, _ in DEFAULT_DEVICES)


def _keep_existing(st: os.stat_result, path: str, fmt: int, major: int, minor: int) -> bool:
    """Whether an entry of linux.devices finds what it asks for already there.

    Engines list paths the runtime makes itself: a privileged pod gets every host
    device (so /dev/ptmx, and whatever the new devpts already holds, like pts/ptmx),
    and a config may name a mount point or one of the /dev links.  The same device
    node already there is kept as it is (devpts would refuse its removal anyway); a
    directory or symlink is something the runtime or a mount put there, and is left
    alone rather than failing the container (runc keeps whatever exists).  The
    default nodes (/dev/null …) are the runtime's own and take the entry's mode and
    owner, so they are made again."""
    if stat.S_ISLNK(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return True
    same = stat.S_IFMT(st.st_mode) == fmt and (fmt == stat.S_IFIFO
                                               or st.st_rdev == os.makedev(major, minor))
    return same and os.path.normpath(path) not in _RUNTIME_NODES


def _make_device_node(rootfd: int, path: str, kind: str, major: int, minor: int, mode: int,
                      uid: int, gid: int, in_userns: bool) -> None:
    parent, _, name = path.rpartition("/")
    pfd = P.mkdir_all(rootfd, parent or "/")
    dfd = _dirfd(pfd)
    os.close(pfd)
    try:
        _make_node_in(dfd, name, path, kind, major, minor, mode, uid, gid, in_userns)
    finally:
        os.close(dfd)


def _make_node_in(dfd: int, name: str, path: str, kind: str, major: int, minor: int, mode: int,
                  uid: int, gid: int, in_userns: bool) -> None:
    """The node ``name`` in the directory ``dfd`` (``path`` in the container)."""
    fmt = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[kind]
    with suppress(FileNotFoundError):
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if _keep_existing(st, path, fmt, major, minor):
            return
        os.unlink(name, dir_fd=dfd)
    if not in_userns:
        try:
            os.mknod(name, fmt | (mode & 0o7777), os.makedev(major, minor), dir_fd=dfd)
            os.chown(name, uid, gid, dir_fd=dfd, follow_symlinks=False)
            os.chmod(f"/proc/self/fd/{dfd}/{name}", mode & 0o7777)
            return
        except PermissionError:
            pass
    # No mknod (user namespace): bind the host's device node over an empty file.
    os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=dfd))
    tfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    try:
        sc.mount(path, P.fd_path(tfd), None, sc.MS_BIND)
    finally:
        os.close(tfd)


def enter(plan: RootfsPlan) -> None:
    """Make the rootfs the process's root: pivot_root, or MS_MOVE + chroot."""
    os.chdir(plan.rootfs)
    if plan.no_pivot:
        if plan.own_mountns:
            oldroot.hide_host_pseudo_fs(os.path.realpath(plan.rootfs))
        sc.mount(plan.rootfs, "/", None, sc.MS_MOVE)
        os.chroot(".")
    else:
        # pivot_root(".", "."): the old root ends up stacked on "/"; detach it.  mount(2)
        # on "." would mean the new root (cwd, not the mount stacked on it): making that
        # rslave cuts an rshared volume off its host peers.  So work on the old root
        # through an fd taken before the pivot: rslave (our unmounts must not reach
        # the host), then detach.
        old_root = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            sc.pivot_root(".", ".")
            os.fchdir(old_root)
        finally:
            os.close(old_root)
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")


def finish(plan: RootfsPlan, masked: list[str], readonly_paths: list[str],
           sysctl: dict[str, str]) -> None:
    """After pivot_root: sysctls, readonly and masked paths, read-only tmpfs, then /."""
    for key, value in sysctl.items():
        sysctls.write(key, value)
    for p in readonly_paths:
        _readonly(p)
    null = -1  # the container's /dev/null, opened (and checked) once for every file masked
    try:
        for p in masked:
            null = _mask(p, null)
    finally:
        if null >= 0:
            os.close(null)
    _remount_read_only(plan.mounts)
    reopen_dev_null()
    if plan.propagation and plan.propagation in _PROPAGATION:
        sc.mount(None, "/", None, _PROPAGATION[plan.propagation])
    if plan.readonly:
        sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY
                 | _locked_flags("/"))


def reopen_dev_null() -> None:
    """Stdio that is the host's /dev/null becomes the container's own /dev/null
    (as runc does): no host file stays open in the container, and CRIU can dump
    it (a file on a mount outside the container is "Can't lookup mount")."""
    try:
        null = os.stat("/dev/null")
    except OSError:
        return
    if not stat.S_ISCHR(null.st_mode) or null.st_rdev != os.makedev(1, 3):
        return
    for fd in (0, 1, 2):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if (stat.S_ISCHR(st.st_mode) and st.st_rdev == null.st_rdev
                and (st.st_dev, st.st_ino) != (null.st_dev, null.st_ino)):
            new = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
            os.dup2(new, fd)
            os.close(new)


def _readonly(path: str) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        target = P.fd_path(fd)
        sc.mount(target, target, None, sc.MS_BIND | sc.MS_REC)
        fd2 = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            t2 = P.fd_path(fd2)
            sc.mount(None, t2, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _locked_flags(t2))
        finally:
            os.close(fd2)
    finally:
        os.close(fd)


def _mask(path: str, null: int) -> int:
    """Mask ``path``: a read-only empty tmpfs over a directory, /dev/null over
    anything else.  ``null``: an O_PATH fd of the container's /dev/null, or -1 to
    open it here; returns it (the caller closes it)."""
    try:
        fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return null
    try:
        if P.is_dir_fd(fd):
            sc.mount("tmpfs", P.fd_path(fd), "tmpfs", sc.MS_RDONLY, "size=0k")
            return null
        if null < 0:
            null = os.open("/dev/null", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
            st = os.fstat(null)
            # Never bind something that only claims to be /dev/null over a file.
            if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
                os.close(null)
                raise OSError(1, f"mask {path}: /dev/null is not the null device")
        sc.mount(P.fd_path(null), P.fd_path(fd), None, sc.MS_BIND)
        return null
    finally:
        os.close(fd)
