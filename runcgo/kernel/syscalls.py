"""The one syscall layer: thin ctypes wrappers that raise OSError naming call and path.

Python 3.11 lacks os.unshare/os.setns and has no mount API at all, so the
runtime calls libc directly.  Every wrapper raises ``OSError(errno, "call
path")`` so the message that reaches the user says what failed and where.
"""

from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
libc = _libc  # the one handle: every kernel module calls libc through it

# clone/unshare flags
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

NS_FLAGS = {
    "mount": CLONE_NEWNS, "uts": CLONE_NEWUTS, "ipc": CLONE_NEWIPC, "user": CLONE_NEWUSER,
    "pid": CLONE_NEWPID, "network": CLONE_NEWNET, "cgroup": CLONE_NEWCGROUP,
    "time": CLONE_NEWTIME,
}
NS_PROC_NAMES = {
    "mount": "mnt", "uts": "uts", "ipc": "ipc", "user": "user", "pid": "pid",
    "network": "net", "cgroup": "cgroup", "time": "time",
}

# mount flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000

MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8

# prctl
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

# syscall numbers (x86-64)
SYS_pivot_root = 155
SYS_setns = 308
SYS_unshare = 272
SYS_openat2 = 437
SYS_mount_setattr = 442
SYS_open_tree = 428
SYS_move_mount = 429
SYS_keyctl = 250
SYS_ioprio_set = 251
SYS_sched_setattr = 314
SYS_set_mempolicy = 238
SYS_personality = 135
SYS_clone3 = 435
SYS_close_range = 436
CLOSE_RANGE_CLOEXEC = 1 << 2

CLONE_INTO_CGROUP = 0x200000000

AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]


def _fail(what: str, path: str | None = None) -> OSError:
    err = ctypes.get_errno()
    msg = f"{what} {path}" if path else what
    exc = OSError(err, msg)
    return exc


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    if _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)) != 0:
        label = f"mount {source!r}" if source else "mount"
        raise _fail(label + " on", target)


def umount2(target: str, flags: int = 0) -> None:
    if _libc.umount2(_b(target), flags) != 0:
        raise _fail("umount", target)


def pivot_root(new_root: str, put_old: str) -> None:
    if _libc.syscall(SYS_pivot_root, _b(new_root), _b(put_old)) != 0:
        raise _fail("pivot_root", new_root)


def unshare(flags: int) -> None:
    if _libc.syscall(SYS_unshare, ctypes.c_int(flags)) != 0:
        raise _fail(f"unshare({flags:#x})")


def setns(fd: int, nstype: int = 0, path: str = "") -> None:
    if _libc.syscall(SYS_setns, ctypes.c_int(fd), ctypes.c_int(nstype)) != 0:
        raise _fail("setns", path or f"fd {fd}")


def sethostname(name: str) -> None:
    raw = name.encode()
    if _libc.sethostname(raw, ctypes.c_size_t(len(raw))) != 0:
        raise _fail("sethostname", name)


def setdomainname(name: str) -> None:
    raw = name.encode()
    if _libc.setdomainname(raw, ctypes.c_size_t(len(raw))) != 0:
        raise _fail("setdomainname", name)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0,
          what: str = "") -> int:
    r: int = _libc.prctl(option, arg2, arg3, arg4, arg5)
    if r < 0:
        raise _fail(what or f"prctl({option})")
    return r


def set_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def close_range_cloexec(first: int) -> None:
    """Mark every fd from ``first`` up close-on-exec in one call (Linux 5.11+).

    Unlike listing /proc/self/fd it needs no new fd: a caller whose low fd
    numbers are all taken (a fork server tracking a thousand pidfds) may be
    past the container's RLIMIT_NOFILE already.  OSError (ENOSYS, EINVAL) on
    older kernels."""
    if _libc.syscall(SYS_close_range, ctypes.c_uint(first), ctypes.c_uint(0xFFFFFFFF),
                     ctypes.c_uint(CLOSE_RANGE_CLOEXEC)) != 0:
        raise _fail("close_range")


# clone3 runs with the GIL held (PyDLL), bracketed by the interpreter's own fork
# hooks, so the child is in the state os.fork would leave it in.
_libc_gil = ctypes.PyDLL(None, use_errno=True)
_libc_gil.syscall.restype = ctypes.c_long


def clone3(flags: int, cgroup_fd: int = -1) -> int:
    """fork() through clone3(2): the child may be born in new namespaces
    (CLONE_NEW* in ``flags``) and in the cgroup2 directory ``cgroup_fd``
    (CLONE_INTO_CGROUP, Linux 5.7+).

    Why: moving a process later (writing cgroup.procs) takes the kernel's
    global threadgroup lock, whose first taker waits out an RCU grace period
    (~10 ms on an idle machine, on the critical path of every start); and a
    child born in its namespaces needs no intermediate process to unshare them.
    Only for single-threaded callers, like os.fork here.  Returns 0 in the
    child and the pid in the parent; raises OSError when the kernel refuses.
    """
    args = (ctypes.c_uint64 * 11)()  # struct clone_args, CLONE_ARGS_SIZE_VER2
    args[0] = flags | (CLONE_INTO_CGROUP if cgroup_fd >= 0 else 0)
    args[4] = 17  # exit_signal: SIGCHLD
    args[10] = max(cgroup_fd, 0)
    api = ctypes.pythonapi
    api.PyOS_BeforeFork()
    pid: int = _libc_gil.syscall(SYS_clone3, ctypes.byref(args), ctypes.c_size_t(88))
    if pid == 0:
        api.PyOS_AfterFork_Child()
        return 0
    api.PyOS_AfterFork_Parent()
    if pid < 0:
        raise _fail("clone3")
    return pid


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2): the kernel resolves ``path`` under ``dirfd`` per ``resolve``."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    fd: int = _libc.syscall(SYS_openat2, ctypes.c_int(dirfd), _b(path), ctypes.byref(how),
                            ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        raise _fail("openat2", path)
    return fd


def fstatfs_type(fd: int) -> int:
    """f_type of the filesystem ``fd`` is on (fstatfs(2)); say, PROC_SUPER_MAGIC."""
    buf = (ctypes.c_long * 16)()  # struct statfs is 120 bytes; f_type comes first
    if _libc.fstatfs(ctypes.c_int(fd), ctypes.byref(buf)) != 0:
        raise _fail("fstatfs", f"fd {fd}")
    return int(buf[0]) & 0xFFFFFFFF


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


MOUNT_ATTR = {
    "ro": 0x1, "nosuid": 0x2, "nodev": 0x4, "noexec": 0x8, "noatime": 0x10,
    "strictatime": 0x20, "nodiratime": 0x80, "nosymfollow": 0x200000,
}
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_IDMAP = 0x100000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40


def mount_setattr(path: str, attr_set: int, attr_clr: int, recursive: bool = True) -> None:
    """mount_setattr(2): change flags on a whole mount tree (the ``rro``-style options)."""
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    flags = AT_RECURSIVE if recursive else 0
    if _libc.syscall(SYS_mount_setattr, ctypes.c_int(AT_FDCWD), _b(path), ctypes.c_uint(flags),
                     ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr))) != 0:
        raise _fail("mount_setattr", path)


def open_tree_clone(path: str, recursive: bool) -> int:
    """open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount at ``path``
    (with the mounts below it if ``recursive``), as an fd."""
    flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (AT_RECURSIVE if recursive else 0)
    fd: int = _libc.syscall(SYS_open_tree, ctypes.c_int(AT_FDCWD), _b(path), ctypes.c_uint(flags))
    if fd < 0:
        raise _fail("open_tree", path)
    return fd


def mount_setattr_idmap(mount_fd: int, userns_fd: int, recursive: bool, what: str) -> None:
    """mount_setattr(2) MOUNT_ATTR_IDMAP on a detached mount: its files' owners are
    seen through the idmapping of the user namespace ``userns_fd``."""
    attr = _MountAttr(MOUNT_ATTR_IDMAP, 0, 0, userns_fd)
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    if _libc.syscall(SYS_mount_setattr, ctypes.c_int(mount_fd), b"", ctypes.c_uint(flags),
                     ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr))) != 0:
        raise _fail("mount_setattr(MOUNT_ATTR_IDMAP)", what)


def move_mount_fd(mount_fd: int, target_fd: int, what: str) -> None:
    """move_mount(2): attach the detached mount ``mount_fd`` on ``target_fd``."""
    flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH
    if _libc.syscall(SYS_move_mount, ctypes.c_int(mount_fd), b"", ctypes.c_int(target_fd), b"",
                     ctypes.c_uint(flags)) != 0:
        raise _fail("move_mount", what)


def join_session_keyring(name: str | None) -> None:
    """keyctl(KEYCTL_JOIN_SESSION_KEYRING): a fresh session keyring per container."""
    KEYCTL_JOIN_SESSION_KEYRING = 1
    r = _libc.syscall(SYS_keyctl, ctypes.c_int(KEYCTL_JOIN_SESSION_KEYRING), _b(name))
    if r < 0:
        raise _fail("keyctl(join session keyring)")


def personality(persona: int) -> None:
    if _libc.syscall(SYS_personality, ctypes.c_ulong(persona)) < 0:
        raise _fail("personality")


def ioprio_set(which: int, who: int, ioprio: int) -> None:
    if _libc.syscall(SYS_ioprio_set, ctypes.c_int(which), ctypes.c_int(who),
                     ctypes.c_int(ioprio)) != 0:
        raise _fail("ioprio_set")
