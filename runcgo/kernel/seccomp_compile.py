"""Compile an OCI seccomp profile to a BPF program with libseccomp (via pyseccomp).

This is the cold path: importing pyseccomp costs tens of milliseconds (it runs
``ldconfig -p`` to find the library) and compiling a Docker-sized profile
costs more.  seccomp.prepare() only comes here when the on-disk cache misses.

The profile has already been validated by seccomp.validate(); this module only
translates.  The program is exported with seccomp_export_bpf and loaded later
with seccomp(2) by our own code, which is what lets us prepend runc's -ENOSYS
stub and pass seccomp(2) flags libseccomp 2.5 does not know.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os

import pyseccomp

from ..errors import ConfigError
from ..spec import LinuxSeccomp, LinuxSeccompArg
from . import seccomp_bpf
from .seccomp_actions import ALLOW_LIKE, ARCHES, OPS, action_value

log = logging.getLogger(__name__)

_NR_SCMP_ERROR = -1
_lib = ctypes.CDLL(pyseccomp._libseccomp_path)  # own handle: pyseccomp sets no argtypes here
_lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
_lib.seccomp_syscall_resolve_name_arch.restype = ctypes.c_int
_lib.seccomp_arch_native.restype = ctypes.c_uint32


def resolve(name: str, arch: int = 0) -> int:
    """Syscall number of ``name`` on ``arch`` (0 = native); -1 if libseccomp doesn't know it.

    Other negative numbers are libseccomp's pseudo-syscalls (a name that
    exists on another architecture of the filter) and are valid in rules.
    """
    r: int = _lib.seccomp_syscall_resolve_name_arch(arch, name.encode())
    return r


def compile_profile(profile: LinuxSeccomp) -> bytes:
    """Return the BPF program (stub + libseccomp's program) for ``profile``."""
    default = action_value(profile.default_action, profile.default_errno_ret)
    filt = pyseccomp.SyscallFilter(default)
    # libseccomp's own no_new_privs handling is off: we load the program
    # ourselves and no_new_privileges is the config's decision (runc does the same).
    filt.set_attr(pyseccomp.Attr.CTL_NNP, 0)
    arches = _add_arches(filt, profile)
    for i, rule in enumerate(profile.syscalls or ()):
        action = action_value(rule.action, rule.errno_ret)
        if action == default:
            continue  # libseccomp refuses rules equal to the default; runc skips them too
        conds = [_arg(a) for a in rule.args or ()]
        for name in rule.names:
            nr = resolve(name)
            if nr == _NR_SCMP_ERROR:
                log.debug("seccomp: syscall %s unknown to libseccomp, skipped", name)
                continue
            try:
                _add_rule(filt, action, nr, conds, rule.args or [])
            except OSError as exc:
                raise ConfigError(f"cannot add rule for {name}: {os.strerror(exc.errno or 0)}",
                                  f"$.linux.seccomp.syscalls[{i}]") from None
    program = _export(filt)
    if _wants_stub(profile):
        program = seccomp_bpf.enosys_stub(_largest_syscalls(profile, arches)) + program
    seccomp_bpf.check_program(program)
    return program


def _add_arches(filt: pyseccomp.SyscallFilter, profile: LinuxSeccomp) -> list[int]:
    """Add the profile's architectures; returns the scmp arch values in the filter."""
    native = int(_lib.seccomp_arch_native())
    present = [native]
    for name in profile.architectures or ():
        arch = ARCHES[name][0]
        if arch == native or arch in present:
            continue
        try:
            filt.add_arch(arch)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                continue
            # a valid OCI name this libseccomp build does not support (e.g. LoongArch)
            log.debug("seccomp: architecture %s not supported by libseccomp, skipped", name)
            continue
        present.append(arch)
    return present


def _arg(a: LinuxSeccompArg) -> pyseccomp.Arg:
    return pyseccomp.Arg(a.index, OPS[a.op], a.value, a.value_two)


def _add_rule(filt: pyseccomp.SyscallFilter, action: int, nr: int,
              conds: list[pyseccomp.Arg], args: list[LinuxSeccompArg]) -> None:
    """Add one rule; several conditions on the same argument become separate rules.

    libseccomp cannot AND two comparisons of one argument; runc (and so every
    engine's profile) treats them as alternatives, so we do too.
    """
    indexes = [a.index for a in args]
    if len(set(indexes)) != len(indexes):
        for c in conds:
            filt.add_rule(action, nr, c)
    else:
        filt.add_rule(action, nr, *conds)


def _export(filt: pyseccomp.SyscallFilter) -> bytes:
    fd = os.memfd_create("runcgo-seccomp", os.MFD_CLOEXEC)
    try:
        with os.fdopen(fd, "w+b", closefd=False) as f:
            filt.export_bpf(f)
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _wants_stub(profile: LinuxSeccomp) -> bool:
    """No stub when the default already lets new syscalls through or returns ENOSYS."""
    if profile.default_action in ALLOW_LIKE:
        return False
    return not (profile.default_action == "SCMP_ACT_ERRNO"
                and profile.default_errno_ret == errno.ENOSYS)


def _largest_syscalls(profile: LinuxSeccomp, arches: list[int]) -> dict[int, dict[str, int]]:
    """{audit arch: {"native"|"x32": largest syscall number named by the profile}}."""
    names = {n for rule in profile.syscalls or () for n in rule.names}
    out: dict[int, dict[str, int]] = {}
    for arch in arches:
        numbers = [nr for n in names if (nr := resolve(n, arch)) >= 0]
        if not numbers:
            log.debug("seccomp: no known syscalls for arch %#x", arch)
            continue
        if arch == pyseccomp.Arch.X32:
            out.setdefault(seccomp_bpf.AUDIT_ARCH_X86_64, {})["x32"] = max(numbers)
        else:
            out.setdefault(arch, {})["native"] = max(numbers)
    return out


def libseccomp_version() -> str:
    return _version(_lib)


def _version(lib: ctypes.CDLL) -> str:
    class _V(ctypes.Structure):
        _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]

    lib.seccomp_version.restype = ctypes.POINTER(_V)
    v = lib.seccomp_version().contents
    return f"{v.major}.{v.minor}.{v.micro}"
