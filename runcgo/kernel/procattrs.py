"""Per-process attributes from the spec: personality, scheduler, I/O priority, NUMA policy.

Each attribute has a ``check_*`` that the parent calls before anything is
created (it raises ConfigError naming the JSON path and returns the kernel
encoding) and an ``apply_*`` that the pre-exec child calls (it re-derives the
encoding, so the child needs nothing but the spec object, and makes the
syscall).  Apply failures raise ``OSError(errno, "call what")`` like
kernel/syscalls.py, so the parent can report "sched_setattr(SCHED_FIFO): ...".

These are inherited across execve, so the child may apply them at any point
after it has forked for the container; they are process-wide for a
single-threaded child.
"""

from __future__ import annotations

import ctypes
import re

from ..errors import ConfigError
from ..spec import IOPriority, LinuxMemoryPolicy, LinuxPersonality, Scheduler
from . import syscalls
from .syscalls import libc as _libc

# --- personality(2) ----------------------------------------------------------

PERSONA_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}
PERSONA_FLAGS = {
    "UNAME26": 0x0020000, "ADDR_NO_RANDOMIZE": 0x0040000, "FDPIC_FUNCPTRS": 0x0080000,
    "MMAP_PAGE_ZERO": 0x0100000, "ADDR_COMPAT_LAYOUT": 0x0200000,
    "READ_IMPLIES_EXEC": 0x0400000, "ADDR_LIMIT_32BIT": 0x0800000, "SHORT_INODE": 0x1000000,
    "WHOLE_SECONDS": 0x2000000, "STICKY_TIMEOUTS": 0x4000000, "ADDR_LIMIT_3GB": 0x8000000,
}


def check_personality(p: LinuxPersonality, where: str = "$.linux.personality") -> int:
    """The persona value for personality(2).

    The spec defines only the LINUX and LINUX32 domains; the flags list is
    "currently unsupported" there, so we accept the kernel's own flag names
    (a typo is an error, not silently ignored).
    """
    if p.domain not in PERSONA_DOMAINS:
        raise ConfigError(f"unknown personality domain {p.domain!r} (want LINUX or LINUX32)",
                          f"{where}.domain")
    value = PERSONA_DOMAINS[p.domain]
    for i, flag in enumerate(p.flags or ()):
        if flag not in PERSONA_FLAGS:
            raise ConfigError(f"unknown personality flag {flag!r}", f"{where}.flags[{i}]")
        value |= PERSONA_FLAGS[flag]
    return value


def apply_personality(p: LinuxPersonality | None) -> None:
    if p is not None:
        syscalls.personality(check_personality(p))


# --- sched_setattr(2) ----------------------------------------------------------

SCHED_POLICIES = {
    "SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3, "SCHED_ISO": 4,
    "SCHED_IDLE": 5, "SCHED_DEADLINE": 6,
}
SCHED_FLAGS = {
    "SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02,
    "SCHED_FLAG_DL_OVERRUN": 0x04, "SCHED_FLAG_KEEP_POLICY": 0x08,
    "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
    "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
}
_REALTIME = ("SCHED_FIFO", "SCHED_RR")
_U64 = (1 << 64) - 1


class SchedAttr(ctypes.Structure):
    """struct sched_attr, SCHED_ATTR_SIZE_VER0 (48 bytes)."""

    _fields_ = [("size", ctypes.c_uint32), ("sched_policy", ctypes.c_uint32),
                ("sched_flags", ctypes.c_uint64), ("sched_nice", ctypes.c_int32),
                ("sched_priority", ctypes.c_uint32), ("sched_runtime", ctypes.c_uint64),
                ("sched_deadline", ctypes.c_uint64), ("sched_period", ctypes.c_uint64)]


def check_scheduler(s: Scheduler, where: str = "$.process.scheduler") -> SchedAttr:
    """The sched_attr for sched_setattr(2), after the kernel's own consistency rules."""
    if s.policy not in SCHED_POLICIES:
        raise ConfigError(f"unknown scheduler policy {s.policy!r}", f"{where}.policy")
    if s.policy == "SCHED_ISO":
        raise ConfigError("SCHED_ISO is not implemented by Linux", f"{where}.policy")
    if not -20 <= s.nice <= 19:
        raise ConfigError(f"nice {s.nice} is outside [-20, 19]", f"{where}.nice")
    if s.policy in _REALTIME:
        if not 1 <= s.priority <= 99:
            raise ConfigError(f"priority {s.priority} is outside [1, 99] for {s.policy}",
                              f"{where}.priority")
    elif s.priority != 0:
        raise ConfigError(f"priority must be 0 for {s.policy}", f"{where}.priority")
    for name, val in (("runtime", s.runtime), ("deadline", s.deadline), ("period", s.period)):
        if not 0 <= val <= _U64:
            raise ConfigError(f"{val} is not a valid duration in ns", f"{where}.{name}")
        if s.policy != "SCHED_DEADLINE" and val:
            raise ConfigError(f"{name} is only meaningful for SCHED_DEADLINE", f"{where}.{name}")
    if s.policy == "SCHED_DEADLINE":
        period = s.period or s.deadline
        if not 0 < s.runtime <= s.deadline <= period:
            raise ConfigError("SCHED_DEADLINE needs 0 < runtime <= deadline <= period",
                              f"{where}.runtime")
    flags = 0
    for i, flag in enumerate(s.flags or ()):
        if flag not in SCHED_FLAGS:
            raise ConfigError(f"unknown scheduler flag {flag!r}", f"{where}.flags[{i}]")
        flags |= SCHED_FLAGS[flag]
    return SchedAttr(ctypes.sizeof(SchedAttr), SCHED_POLICIES[s.policy], flags, s.nice,
                     s.priority, s.runtime, s.deadline, s.period)


def apply_scheduler(s: Scheduler | None) -> None:
    if s is None:
        return
    attr = check_scheduler(s)
    if _libc.syscall(syscalls.SYS_sched_setattr, ctypes.c_int(0), ctypes.byref(attr),
                     ctypes.c_uint(0)) != 0:
        raise OSError(ctypes.get_errno(), f"sched_setattr({s.policy})")


def sched_getattr(pid: int = 0) -> SchedAttr:
    """sched_getattr(2), for diagnostics and tests."""
    attr = SchedAttr()
    if _libc.syscall(315, ctypes.c_int(pid), ctypes.byref(attr),
                     ctypes.c_uint(ctypes.sizeof(attr)), ctypes.c_uint(0)) != 0:
        raise OSError(ctypes.get_errno(), "sched_getattr")
    return attr


# --- ioprio_set(2) ---------------------------------------------------------------

IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
IOPRIO_WHO_PROCESS = 1
IOPRIO_CLASS_SHIFT = 13


def check_io_priority(io: IOPriority, where: str = "$.process.ioPriority") -> int:
    """The ioprio value: class in the top bits, level 0 (highest) to 7 below."""
    if io.class_ not in IOPRIO_CLASSES:
        raise ConfigError(f"unknown I/O priority class {io.class_!r}", f"{where}.class")
    if not 0 <= io.priority <= 7:
        raise ConfigError(f"priority {io.priority} is outside [0, 7]", f"{where}.priority")
    return IOPRIO_CLASSES[io.class_] << IOPRIO_CLASS_SHIFT | io.priority


def apply_io_priority(io: IOPriority | None) -> None:
    if io is not None:
        syscalls.ioprio_set(IOPRIO_WHO_PROCESS, 0, check_io_priority(io))


def ioprio_get(pid: int = 0) -> int:
    r: int = _libc.syscall(252, ctypes.c_int(IOPRIO_WHO_PROCESS), ctypes.c_int(pid))
    if r < 0:
        raise OSError(ctypes.get_errno(), "ioprio_get")
    return r


# --- set_mempolicy(2) ----------------------------------------------------------------

MPOL_MODES = {
    "MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
    "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6,
}
MPOL_FLAGS = {
    "MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14,
    "MPOL_F_STATIC_NODES": 1 << 15,
}
_NO_NODES = ("MPOL_DEFAULT", "MPOL_LOCAL")
_NEED_NODES = ("MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE")
MAX_NODE = 1023  # the kernel's largest MAX_NUMNODES (NODES_SHIFT 10)
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_nodes(text: str, where: str) -> set[int]:
    """"0-3,7" -> {0, 1, 2, 3, 7}; the cpuset list syntax the spec uses."""
    nodes: set[int] = set()
    for part in text.split(","):
        m = _RANGE.match(part.strip())
        if not m:
            raise ConfigError(f"invalid node list {text!r}", where)
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if lo > hi or hi > MAX_NODE:
            raise ConfigError(f"invalid node range {part!r} (nodes are 0-{MAX_NODE})", where)
        nodes.update(range(lo, hi + 1))
    return nodes


def check_memory_policy(mp: LinuxMemoryPolicy,
                        where: str = "$.linux.memoryPolicy") -> tuple[int, set[int]]:
    """(mode | flags, node set) for set_mempolicy(2)."""
    if mp.mode not in MPOL_MODES:
        raise ConfigError(f"unknown memory policy mode {mp.mode!r}", f"{where}.mode")
    nodes = parse_nodes(mp.nodes, f"{where}.nodes") if mp.nodes else set()
    if mp.mode in _NO_NODES and nodes:
        raise ConfigError(f"{mp.mode} takes no nodes", f"{where}.nodes")
    if mp.mode in _NEED_NODES and not nodes:
        raise ConfigError(f"{mp.mode} needs nodes", f"{where}.nodes")
    flags = 0
    for i, flag in enumerate(mp.flags or ()):
        if flag not in MPOL_FLAGS:
            raise ConfigError(f"unknown memory policy flag {flag!r}", f"{where}.flags[{i}]")
        flags |= MPOL_FLAGS[flag]
    static_relative = MPOL_FLAGS["MPOL_F_STATIC_NODES"] | MPOL_FLAGS["MPOL_F_RELATIVE_NODES"]
    if flags & static_relative == static_relative:
        raise ConfigError("MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other",
                          f"{where}.flags")
    if flags and mp.mode in _NO_NODES:
        raise ConfigError(f"{mp.mode} takes no flags", f"{where}.flags")
    return MPOL_MODES[mp.mode] | flags, nodes


def apply_memory_policy(mp: LinuxMemoryPolicy | None) -> None:
    if mp is None:
        return
    mode, nodes = check_memory_policy(mp)
    bits = ctypes.sizeof(ctypes.c_ulong) * 8
    maxnode = max(nodes) + 2 if nodes else 0  # the kernel reads maxnode - 1 bits
    words = (ctypes.c_ulong * max(1, (maxnode + bits - 1) // bits))()
    for n in nodes:
        words[n // bits] |= 1 << (n % bits)
    mask = words if nodes else None
    if _libc.syscall(syscalls.SYS_set_mempolicy, ctypes.c_int(mode), mask,
                     ctypes.c_ulong(maxnode)) != 0:
        raise OSError(ctypes.get_errno(), f"set_mempolicy({mp.mode})")


__all__ = ["apply_io_priority", "apply_memory_policy", "apply_personality", "apply_scheduler",
           "check_io_priority", "check_memory_policy", "check_personality", "check_scheduler"]
