"""The OCI seccomp vocabulary as numbers: actions, architectures, operators, flags.

Pure tables, no libseccomp: both the cheap validator (every ``create``) and
the compiler use them, and the validator must not pay for pyseccomp.
"""

from __future__ import annotations

import errno

from . import seccomp_bpf as bpf

# SECCOMP_RET_* (linux/seccomp.h); libseccomp's SCMP_ACT_* are the same numbers.
ACT_KILL_PROCESS = 0x80000000
ACT_KILL_THREAD = 0x00000000
ACT_TRAP = 0x00030000
ACT_ERRNO = 0x00050000
ACT_NOTIFY = 0x7FC00000
ACT_TRACE = 0x7FF00000
ACT_LOG = 0x7FFC0000
ACT_ALLOW = 0x7FFF0000

ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL": ACT_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": ACT_KILL_PROCESS,
    "SCMP_ACT_TRAP": ACT_TRAP,
    "SCMP_ACT_ERRNO": ACT_ERRNO,
    "SCMP_ACT_TRACE": ACT_TRACE,
    "SCMP_ACT_ALLOW": ACT_ALLOW,
    "SCMP_ACT_LOG": ACT_LOG,
    "SCMP_ACT_NOTIFY": ACT_NOTIFY,
}
#: Actions that take errnoRet (the low 16 bits of the return value).
WITH_ERRNO = frozenset({"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"})
#: Defaults that let unknown syscalls through anyway: no -ENOSYS stub (runc's rule;
#: a tracer is expected to handle new syscalls itself).
ALLOW_LIKE = frozenset({"SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"})

OPS: dict[str, int] = {
    "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
}

_64 = 0x80000000
_LE = 0x40000000
_N32 = 0x20000000
#: OCI name -> (libseccomp SCMP_ARCH_* value,).  X32 is libseccomp's pseudo value.
ARCHES: dict[str, tuple[int]] = {
    "SCMP_ARCH_X86": (3 | _LE,),
    "SCMP_ARCH_X86_64": (62 | _64 | _LE,),
    "SCMP_ARCH_X32": (62 | _LE,),
    "SCMP_ARCH_ARM": (40 | _LE,),
    "SCMP_ARCH_AARCH64": (183 | _64 | _LE,),
    "SCMP_ARCH_MIPS": (8,),
    "SCMP_ARCH_MIPS64": (8 | _64,),
    "SCMP_ARCH_MIPS64N32": (8 | _64 | _N32,),
    "SCMP_ARCH_MIPSEL": (8 | _LE,),
    "SCMP_ARCH_MIPSEL64": (8 | _64 | _LE,),
    "SCMP_ARCH_MIPSEL64N32": (8 | _64 | _LE | _N32,),
    "SCMP_ARCH_PPC": (20,),
    "SCMP_ARCH_PPC64": (21 | _64,),
    "SCMP_ARCH_PPC64LE": (21 | _64 | _LE,),
    "SCMP_ARCH_S390": (22,),
    "SCMP_ARCH_S390X": (22 | _64,),
    "SCMP_ARCH_PARISC": (15,),
    "SCMP_ARCH_PARISC64": (15 | _64,),
    "SCMP_ARCH_RISCV64": (243 | _64 | _LE,),
    "SCMP_ARCH_LOONGARCH64": (258 | _64 | _LE,),
    "SCMP_ARCH_M68K": (4,),
    "SCMP_ARCH_SH": (42 | _LE,),
    "SCMP_ARCH_SHEB": (42,),
}

FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": bpf.SECCOMP_FILTER_FLAG_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": bpf.SECCOMP_FILTER_FLAG_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": bpf.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": bpf.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
}


def action_value(name: str, errno_ret: int | None) -> int:
    """The 32-bit return value; ERRNO and TRACE default to EPERM like runc."""
    base = ACTIONS[name]
    if name in WITH_ERRNO:
        return base | ((errno.EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    return base
