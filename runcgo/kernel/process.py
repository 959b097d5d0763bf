"""The container process's own context: rlimits, identity, env, executable, fds."""

from __future__ import annotations

import os
import resource

from .._lite import suppress
from ..spec import POSIXRlimit, User


class ExecLookupError(Exception):
    """The configured executable can't be run; the message is runc's wording."""

_RLIMIT_IDS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}
_INF = resource.RLIM_INFINITY


def _lim(v: int) -> int:
    # The spec uses uint64; 2^64-1 (or -1 from Go) means unlimited.
    return _INF if v < 0 or v >= (1 << 63) else v


def set_rlimits(rlimits: list[POSIXRlimit] | None) -> None:
    for r in rlimits or ():
        try:
            resource.setrlimit(_RLIMIT_IDS[r.type], (_lim(r.soft), _lim(r.hard)))
        except (OSError, ValueError) as exc:
            err = exc.errno if isinstance(exc, OSError) and exc.errno else 22
            raise OSError(err, f"setrlimit {r.type} soft={r.soft} hard={r.hard}") from None


def set_oom_score_adj(value: int | None) -> None:
    if value is None:
        return
    path = "/proc/self/oom_score_adj"
    with open(path) as f:
        if int(f.read()) == value:
            return  # lowering needs CAP_SYS_RESOURCE: don't ask for it needlessly
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except OSError as exc:
        raise OSError(exc.errno, f"write oomScoreAdj {value} to {path}") from None


def switch_user(user: User) -> None:
    """setgroups, then gid, then uid (the order that keeps the rights to do each)."""
    groups = list(user.additional_gids or [])
    try:
        os.setgroups(groups)
    except PermissionError:
        # setgroups is denied in a user namespace mapped by an unprivileged owner.
        if groups:
            raise
    try:
        os.setresgid(user.gid, user.gid, user.gid)
    except OSError as exc:
        raise OSError(exc.errno, f"setresgid {user.gid}") from None
    try:
        os.setresuid(user.uid, user.uid, user.uid)
    except OSError as exc:
        raise OSError(exc.errno, f"setresuid {user.uid}") from None
    if user.umask is not None:
        os.umask(user.umask)
    else:
        os.umask(0o022)


def build_env(env: list[str] | None, uid: int) -> dict[str, str]:
    """The process env; HOME from the container's /etc/passwd when unset (as runc)."""
    out: dict[str, str] = {}
    for item in env or ():
        k, _, v = item.partition("=")
        out[k] = v
    if "HOME" not in out:
        out["HOME"] = _home_of(uid)
    return out


def _home_of(uid: int) -> str:
    with suppress(OSError), open("/etc/passwd") as f:
        for line in f:
            parts = line.rstrip("\n").split(":")
            if len(parts) >= 6 and parts[2] == str(uid):
                return parts[5] or "/"
    return "/"


def find_executable(arg0: str, env: dict[str, str], cwd: str) -> str:
    """PATH lookup inside the container; raises with runc's wording when missing."""
    if "/" in arg0:
        path = arg0 if arg0.startswith("/") else os.path.join(cwd, arg0)
        _check_exec(path, arg0)
        return path
    for d in (env.get("PATH") or "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(":"):
        cand = os.path.join(d or ".", arg0)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise ExecLookupError(f'exec: "{arg0}": executable file not found in $PATH')


def _check_exec(path: str, arg0: str) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ExecLookupError(f'exec: "{arg0}": stat {path}: no such file or directory') from None
    if os.path.isdir(path):
        raise ExecLookupError(f'exec: "{arg0}": is a directory')
    del st
    if not os.access(path, os.X_OK):
        raise ExecLookupError(f'exec: "{arg0}": permission denied')


def close_fds_except(keep: set[int]) -> None:
    """Mark every fd not in ``keep`` close-on-exec (no host fd reaches the container).

    Close-on-exec rather than close: the runtime's own fds (sync socket, exec
    FIFO, a seccomp listener socket) are still needed until exec.
    """
    top = len(keep)
    if keep == set(range(top)):  # 0-2 and the preserved fds: one syscall, no new fd
        try:
            from .syscalls import close_range_cloexec

            close_range_cloexec(top)
        except OSError:
            pass
        else:
            for fd in range(3, top):
                with suppress(OSError):
                    os.set_inheritable(fd, True)
            return
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except FileNotFoundError:  # no /proc in this rootfs: walk the whole fd table
        fds = list(range(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
    for fd in fds:
        if fd in keep:
            continue
        with suppress(OSError):
            os.set_inheritable(fd, False)
    for fd in keep:
        if fd > 2:
            with suppress(OSError):
                os.set_inheritable(fd, True)
