"""Classic-BPF plumbing for seccomp: the -ENOSYS stub and seccomp(2) itself.

Kept apart from the libseccomp compiler so that the warm path (a cached
program) loads a filter with nothing but ctypes, struct and kernel/syscalls.py.

The -ENOSYS stub: a profile written for an older kernel blocks every syscall it
does not name with its default action (usually EPERM).  For syscalls *newer*
than everything the profile knows, that is wrong: libc probes new syscalls
(clone3, faccessat2, ...) and falls back to the old one only on ENOSYS.  So,
like runc, a few instructions are prepended that return ENOSYS for syscall
numbers above the largest one the profile mentions, per architecture.
"""

from __future__ import annotations

import ctypes
import errno
import struct

from .syscalls import libc as _libc

# seccomp(2)
SYS_seccomp = 317  # x86-64
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2
SECCOMP_FILTER_FLAG_TSYNC = 1 << 0
SECCOMP_FILTER_FLAG_LOG = 1 << 1
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 1 << 2
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 1 << 4
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5

RET_ERRNO = 0x00050000
RET_ENOSYS = RET_ERRNO | errno.ENOSYS
BPF_MAXINSNS = 4096
INSN = struct.Struct("=HBBI")  # struct sock_filter, host endian like seccomp_export_bpf

# audit architectures (linux/audit.h)
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_S390 = 0x00000016
AUDIT_ARCH_S390X = 0x80000016
X32_SYSCALL_BIT = 0x40000000

_LD_W_ABS = 0x20
_JA = 0x05
_JEQ = 0x15
_JGT = 0x25
_JSET = 0x45
_RET = 0x06
_OFF_NR = 0
_OFF_ARCH = 4



class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


Label = str | int


def enosys_stub(max_by_arch: dict[int, dict[str, int]]) -> bytes:
    """Assemble the stub for {audit_arch: {"native"|"x32": largest syscall nr}}.

    Unknown architectures and syscalls at or below the maximum fall through
    to the libseccomp program that follows, unchanged.
    """
    if not max_by_arch:
        return b""
    prog: list[tuple[int, Label, Label, int | str]] = [(_LD_W_ABS, 0, 0, _OFF_ARCH)]
    for arch in max_by_arch:
        prog.append((_JEQ, f"arch{arch}", 0, arch))
    prog.append((_JA, 0, 0, "main"))
    labels: dict[str, int] = {}
    for arch, maxima in max_by_arch.items():
        labels[f"arch{arch}"] = len(prog)
        prog.append((_LD_W_ABS, 0, 0, _OFF_NR))
        if arch in (AUDIT_ARCH_S390, AUDIT_ARCH_S390X):
            # unknown large syscall numbers arrive as setup(0) on s390
            prog.append((_JEQ, "enosys", 0, 0))
        if arch == AUDIT_ARCH_X86_64:
            prog.append((_JSET, f"x32_{arch}", 0, X32_SYSCALL_BIT))
            _compare(prog, maxima.get("native"))
            labels[f"x32_{arch}"] = len(prog)
            _compare(prog, maxima.get("x32"))
        else:
            _compare(prog, maxima.get("native"))
    labels["enosys"] = len(prog)
    prog.append((_RET, 0, 0, RET_ENOSYS))
    labels["main"] = len(prog)
    out = bytearray()
    for i, (code, jt, jf, k) in enumerate(prog):
        jt_off = labels[jt] - i - 1 if isinstance(jt, str) else jt
        jf_off = labels[jf] - i - 1 if isinstance(jf, str) else jf
        k_val = labels[k] - i - 1 if isinstance(k, str) else k
        if not (0 <= jt_off <= 255 and 0 <= jf_off <= 255):
            raise ValueError("seccomp stub jump out of range")
        out += INSN.pack(code, jt_off, jf_off, k_val)
    return bytes(out)


def _compare(prog: list[tuple[int, Label, Label, int | str]], maximum: int | None) -> None:
    if maximum is None:
        prog.append((_JA, 0, 0, "main"))
    else:
        prog.append((_JGT, "enosys", 0, maximum))
        prog.append((_JA, 0, 0, "main"))


def check_program(bpf: bytes) -> None:
    """Refuse something that is not a plausible sock_filter array (a corrupt cache)."""
    if not bpf or len(bpf) % INSN.size or len(bpf) // INSN.size > BPF_MAXINSNS:
        raise ValueError(f"invalid seccomp program of {len(bpf)} bytes")


def seccomp_set_filter(bpf: bytes, flags: int) -> int:
    """seccomp(SECCOMP_SET_MODE_FILTER): install ``bpf``; returns the listener fd or -1."""
    check_program(bpf)
    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = _SockFprog(len(bpf) // INSN.size, ctypes.cast(buf, ctypes.c_void_p))
    r: int = _libc.syscall(SYS_seccomp, ctypes.c_uint(SECCOMP_SET_MODE_FILTER),
                           ctypes.c_uint(flags), ctypes.byref(prog))
    if r < 0:
        err = ctypes.get_errno()
        what = "seccomp(SECCOMP_SET_MODE_FILTER)"
        if err == errno.EACCES:
            what += " (needs no_new_privs or CAP_SYS_ADMIN)"
        raise OSError(err, what)
    return r if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER else -1


def flag_supported(flag: int) -> bool:
    """Probe the kernel: an unknown flag gives EINVAL, a known one EFAULT on a NULL program."""
    r = _libc.syscall(SYS_seccomp, ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(flag),
                      None)
    return r < 0 and ctypes.get_errno() == errno.EFAULT


def action_supported(action: int) -> bool:
    """SECCOMP_GET_ACTION_AVAIL: does the running kernel know this return action?"""
    val = ctypes.c_uint32(action & 0xFFFF0000)
    r = _libc.syscall(SYS_seccomp, ctypes.c_uint(SECCOMP_GET_ACTION_AVAIL), ctypes.c_uint(0),
                      ctypes.byref(val))
    return bool(r == 0)
