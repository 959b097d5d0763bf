"""Process capabilities: all five sets, all 41 names, applied around the uid switch.

INTERFACE CONTRACT (called by kernel/preexec in the container's init and by exec):

    check(caps: LinuxCapabilities | None) -> list[str]      # parent side, before fork:
        returns the warning for names unknown to us or to the running kernel
        (those are skipped); raises ConfigError only for a non-string entry
    apply_bounding(caps) -> None     # while still uid 0, before the uid switch
    keep_caps_for_user_switch() -> None   # PR_SET_KEEPCAPS=1 before setresuid
    apply_sets(caps) -> None         # after the uid switch: effective/permitted/inheritable, then ambient

``caps=None`` everywhere means "the config has no capabilities object": leave the
process as it is.  A set that is absent inside a present object is the empty set
(what runc does, and what Docker relies on when it sends no ambient list).

Why ctypes and not python-prctl: python-prctl knows neither the ambient set nor
CAP_CHECKPOINT_RESTORE (40), needs a compiler and libcap headers to install, and
costs an extension-module import on every ``create``.  The whole job is one
capset(2) call and a few prctl(2) calls, so this module talks to libc directly
through the runtime's one libc handle (kernel/syscalls.py).

Why the capability number comes from PR_CAPBSET_READ probing and not
/proc/sys/kernel/cap_last_cap: ``apply_*`` run inside the container's mount
namespace, where /proc may be missing or hostile (CVE-2019-16884 class).
"""

from __future__ import annotations

import ctypes
import errno

from .. import log
from ..errors import ConfigError
from ..spec import LinuxCapabilities
from .syscalls import (
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAP_AMBIENT_RAISE,
    PR_CAPBSET_DROP,
    PR_CAPBSET_READ,
    PR_SET_KEEPCAPS,
    prctl,
)
from .syscalls import libc as _libc

#: Index = capability number (linux/capability.h).  41 names, 0..40.
CAP_NAMES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
CAP_NUMBERS: dict[str, int] = {name: i for i, name in enumerate(CAP_NAMES)}

SET_NAMES = ("bounding", "effective", "inheritable", "permitted", "ambient")

_LINUX_CAPABILITY_VERSION_3 = 0x20080522



class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_CapDataPair = _CapData * 2


def last_cap() -> int:
    """Highest capability number the running kernel knows (probed, /proc-free)."""
    global _last_cap
    if _last_cap is None:
        n = 0
        while n < 64 and _libc.prctl(PR_CAPBSET_READ, n + 1, 0, 0, 0) >= 0:
            n += 1
        _last_cap = n
    return _last_cap


_last_cap: int | None = None


def _mask(names: list[str] | None) -> int:
    """Bitmask of the names this kernel knows; check() warned about the others."""
    top = last_cap()
    m = 0
    for name in names or ():
        n = CAP_NUMBERS.get(name)
        if n is not None and n <= top:
            m |= 1 << n
    return m


def _names(mask: int) -> str:
    return ", ".join(CAP_NAMES[i] if i < len(CAP_NAMES) else f"cap {i}"
                     for i in range(64) if mask >> i & 1)


def check(caps: LinuxCapabilities | None,
          where: str = "$.process.capabilities") -> list[str]:
    """Validate names before anything is created.

    A name we don't know, or one newer than the running kernel, is skipped
    with one warning: runtime-spec 1.3 asks for a warning ("any value which
    cannot be mapped to a relevant kernel interface"), and runc 1.1 and crun
    warn -- in runc's words, which engines' users already recognise.  Engines
    send one list to every kernel, so failing would break old hosts.
    """
    if caps is None:
        return []
    top = last_cap()
    skipped: set[str] = set()
    for set_name in SET_NAMES:
        for i, name in enumerate(getattr(caps, set_name) or ()):
            if not isinstance(name, str):
                raise ConfigError(f"capability {name!r} is not a string", f"{where}.{set_name}[{i}]")
            if name not in CAP_NUMBERS or CAP_NUMBERS[name] > top:
                skipped.add(name)
    if not skipped:
        return []
    return [f"ignoring unknown or unavailable capabilities: [{' '.join(sorted(skipped))}]"]


def current_bounding() -> int:
    """The calling process's bounding set as a bitmask."""
    m = 0
    for n in range(last_cap() + 1):
        if _libc.prctl(PR_CAPBSET_READ, n, 0, 0, 0) == 1:
            m |= 1 << n
    return m


def apply_bounding(caps: LinuxCapabilities | None) -> None:
    """Drop every capability not in ``caps.bounding`` from the bounding set.

    Runs as uid 0 (PR_CAPBSET_DROP needs CAP_SETPCAP).  Before dropping, every
    capability named in *any* set is checked against the current bounding set:
    nothing outside it can ever be granted (this VM lacks CAP_SYS_RESOURCE),
    and failing here names the capability instead of a bare EPERM from capset.
    """
    if caps is None:
        return
    have = current_bounding()
    for set_name in SET_NAMES:
        missing = _mask(getattr(caps, set_name)) & ~have
        if missing:
            raise OSError(errno.EPERM,
                          f"apply caps: {_names(missing)} ({set_name}) not in the runtime's "
                          f"bounding set; the host cannot grant it")
    keep = _mask(caps.bounding)
    for n in range(last_cap() + 1):
        if have >> n & 1 and not keep >> n & 1:
            prctl(PR_CAPBSET_DROP, n, what=f"drop {CAP_NAMES[n]} from the bounding set")


def keep_caps_for_user_switch() -> None:
    """PR_SET_KEEPCAPS=1 so that setresuid away from 0 keeps the permitted set.

    Without it the kernel clears permitted and effective on the switch and
    apply_sets could not raise anything for a non-root user.
    """
    prctl(PR_SET_KEEPCAPS, 1, what="prctl(PR_SET_KEEPCAPS, 1)")


def capget() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of the calling thread."""
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = _CapDataPair()
    if _libc.capget(ctypes.byref(hdr), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    return tuple(  # type: ignore[return-value]
        getattr(data[0], f) | getattr(data[1], f) << 32
        for f in ("effective", "permitted", "inheritable"))


def capset(effective: int, permitted: int, inheritable: int) -> None:
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = _CapDataPair()
    for i in (0, 1):
        shift = 32 * i
        data[i].effective = effective >> shift & 0xFFFFFFFF
        data[i].permitted = permitted >> shift & 0xFFFFFFFF
        data[i].inheritable = inheritable >> shift & 0xFFFFFFFF
    if _libc.capset(ctypes.byref(hdr), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "capset " + _explain_capset(effective, permitted, inheritable))


def _explain_capset(effective: int, permitted: int, inheritable: int) -> str:
    """Name what capset refused, so the user is not left with a bare EPERM."""
    try:
        _, cur_prm, _ = capget()
    except OSError:
        return "(effective/permitted/inheritable)"
    if permitted & ~cur_prm:
        return f"permitted: {_names(permitted & ~cur_prm)} not held by the runtime"
    if effective & ~permitted:
        return f"effective: {_names(effective & ~permitted)} not in the permitted set"
    return f"inheritable: {_names(inheritable)}"


def apply_sets(caps: LinuxCapabilities | None) -> None:
    """After the uid switch: set effective/permitted/inheritable, then raise ambient.

    KEEPCAPS is cleared first so a later execve behaves normally.  Ambient is
    cleared and then raised only for capabilities that are both permitted and
    inheritable (the kernel's own rule); the others are logged, not fatal,
    matching runc.
    """
    if caps is None:
        return
    prctl(PR_SET_KEEPCAPS, 0, what="prctl(PR_SET_KEEPCAPS, 0)")
    eff, prm, inh = _mask(caps.effective), _mask(caps.permitted), _mask(caps.inheritable)
    capset(eff, prm, inh)
    r: int = _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if r < 0 and ctypes.get_errno() != errno.EINVAL:  # EINVAL: kernel < 4.3, no ambient
        raise OSError(ctypes.get_errno(), "prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
    amb = _mask(caps.ambient)
    for n in range(last_cap() + 1):
        if not amb >> n & 1:
            continue
        if not (prm >> n & 1 and inh >> n & 1):
            # runc's own default lists ambient caps with no inheritable set, and runc
            # says nothing: a debug line, not a warning engines copy into their logs.
            log.debug(f"ambient {CAP_NAMES[n]} skipped: not both permitted and inheritable")
            continue
        if _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n, 0, 0) < 0:
            raise OSError(ctypes.get_errno(), f"raise ambient {CAP_NAMES[n]}")


def status_masks(pid: int | str = "self") -> dict[str, int]:
    """CapInh/CapPrm/CapEff/CapBnd/CapAmb from /proc/PID/status (diagnostics, tests)."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Cap"):
                key, _, val = line.partition(":")
                out[key] = int(val.strip(), 16)
    return out


__all__ = ["CAP_NAMES", "CAP_NUMBERS", "apply_bounding", "apply_sets", "capget", "capset",
           "check", "current_bounding", "keep_caps_for_user_switch", "last_cap",
           "status_masks"]
