"""Device access control on cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program.

cgroup v2 has no devices.allow/deny files; instead the kernel runs a BPF
program attached to the cgroup on every open/mknod of a device node and
allows the access iff it returns 1.  We generate the program from the
normalised rules (devrules), load it with bpf(2) and attach it with
BPF_F_ALLOW_MULTI, then detach whatever device programs were attached before
(so ``update`` replaces the policy without a window where nothing applies).

The program sees ``struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
u32 minor; }`` where ``access_type = (access << 16) | type``.  Rules are
checked last to first, the first match returns its verdict, and falling off
the end returns the default — the v1 controller's "last rule wins" order.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from ..syscalls import libc as _libc
from .base import CgroupError
from .devrules import WILDCARD, Rule, effective

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Sequence

SYS_bpf = 321  # x86-64
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2

_TYPES = {"b": 1, "c": 2}
_ACCESS = {"m": 1, "r": 2, "w": 4}

# opcodes
_LDX_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W
_AND_K = 0x57  # BPF_ALU64 | BPF_AND | BPF_K
_RSH_K = 0x77  # BPF_ALU64 | BPF_RSH | BPF_K
_MOV_K = 0xB7  # BPF_ALU64 | BPF_MOV | BPF_K
_MOV_X = 0xBF  # BPF_ALU64 | BPF_MOV | BPF_X
_JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_EXIT = 0x95



def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _bits(access: str) -> int:
    return sum(_ACCESS[c] for c in access)


def _rule_block(rule: Rule) -> list[tuple[int, int, int, int, int | None]]:
    """Instructions for one rule; a jump with off=None means "to the next rule"."""
    out: list[tuple[int, int, int, int, int | None]] = []
    if rule.type != "a":
        out.append((_JNE_K, 2, 0, _TYPES[rule.type], None))
    if rule.major != WILDCARD:
        out.append((_JNE_K, 4, 0, rule.major, None))
    if rule.minor != WILDCARD:
        out.append((_JNE_K, 5, 0, rule.minor, None))
    acc = _bits(rule.access)
    if acc != 7:
        out.append((_MOV_X, 1, 3, 0, 0))
        if rule.allow:  # every requested bit must be granted
            out.append((_AND_K, 1, 0, ~acc & 7, 0))
            out.append((_JNE_K, 1, 0, 0, None))
        else:  # any requested bit being denied is enough
            out.append((_AND_K, 1, 0, acc, 0))
            out.append((_JEQ_K, 1, 0, 0, None))
    out.append((_MOV_K, 0, 0, 1 if rule.allow else 0, 0))
    out.append((_EXIT, 0, 0, 0, 0))
    return out


def compile_rules(rules: Sequence[Rule]) -> bytes:
    """The program text (concatenated struct bpf_insn) for ``rules``."""
    default_allow, exceptions = effective(rules)
    prog = [
        _insn(_LDX_W, 2, 1, 0),  # r2 = access_type
        _insn(_AND_K, 2, 0, 0, 0xFFFF),  # r2 = device type
        _insn(_LDX_W, 3, 1, 0),  # r3 = access_type
        _insn(_RSH_K, 3, 0, 0, 16),  # r3 = requested access
        _insn(_LDX_W, 4, 1, 4),  # r4 = major
        _insn(_LDX_W, 5, 1, 8),  # r5 = minor
    ]
    # Rules are checked last to first and the first match decides, so an exception
    # equal to the default is redundant only if no earlier rule (later in the
    # reversed order) disagrees with the default: drop the leading run of such
    # rules, keep every other one (an "allow 1:7" after a "deny 1:7" must win).
    first = next((i for i, r in enumerate(exceptions) if r.allow != default_allow),
                 len(exceptions))
    for rule in reversed(exceptions[first:]):
        block = _rule_block(rule)
        n = len(block)
        for i, (code, dst, src, imm, off) in enumerate(block):
            if code in (_JNE_K, _JEQ_K) and off is None:
                prog.append(_insn(code, dst, src, n - i - 1, imm))
            else:
                prog.append(_insn(code, dst, src, 0, imm))
    prog.append(_insn(_MOV_K, 0, 0, 0, 1 if default_allow else 0))
    prog.append(_insn(_EXIT))
    return b"".join(prog)


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char], what: str) -> int:
    ret = _libc.syscall(SYS_bpf, cmd, attr, len(attr))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf({what}): {os.strerror(err)}")
    return int(ret)


def load(program: bytes) -> int:
    """Load a device program; return its fd.  Verifier output goes into the error."""
    insns = ctypes.create_string_buffer(program, len(program))
    lic = ctypes.create_string_buffer(b"Apache-2.0")
    logbuf = ctypes.create_string_buffer(65536)
    for level in (0, 1):
        attr = ctypes.create_string_buffer(128)
        struct.pack_into("<IIQQIIQII16s", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE,
                         len(program) // 8, ctypes.addressof(insns), ctypes.addressof(lic),
                         level, len(logbuf) if level else 0,
                         ctypes.addressof(logbuf) if level else 0, 0, 0, b"runcgo_devices")
        try:
            return _bpf(BPF_PROG_LOAD, attr, "BPF_PROG_LOAD")
        except OSError as e:
            if level == 1 or e.errno not in (errno.EACCES, errno.EINVAL):
                verifier = logbuf.value.decode(errors="replace").strip()
                raise CgroupError(f"devices: loading the eBPF device filter failed: {e}"
                                  + (f"\n{verifier}" if verifier else "")) from e
    raise AssertionError("unreachable")


def _query(cgfd: int) -> list[int]:
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIIIQI", attr, 0, cgfd, BPF_CGROUP_DEVICE, 0, 0,
                     ctypes.addressof(ids), 64)
    try:
        _bpf(BPF_PROG_QUERY, attr, "BPF_PROG_QUERY")
    except OSError:
        return []
    count = struct.unpack_from("<I", attr, 24)[0]
    return list(ids[:min(count, 64)])


def _fd_by_id(prog_id: int) -> int | None:
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<I", attr, 0, prog_id)
    try:
        return _bpf(BPF_PROG_GET_FD_BY_ID, attr, "BPF_PROG_GET_FD_BY_ID")
    except OSError:
        return None


def _attach(cgfd: int, progfd: int, flags: int) -> None:
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIII", attr, 0, cgfd, progfd, BPF_CGROUP_DEVICE, flags)
    _bpf(BPF_PROG_ATTACH, attr, "BPF_PROG_ATTACH")


def _detach(cgfd: int, progfd: int) -> None:
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<III", attr, 0, cgfd, progfd, BPF_CGROUP_DEVICE)
    _bpf(BPF_PROG_DETACH, attr, "BPF_PROG_DETACH")


def apply_device_rules(cgroup_dir: str, rules: Sequence[Rule]) -> None:
    """Make ``rules`` the device policy of the cgroup2 directory ``cgroup_dir``."""
    progfd = load(compile_rules(rules))
    try:
        cgfd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        os.close(progfd)
        raise
    try:
        old = _query(cgfd)
        try:
            _attach(cgfd, progfd, BPF_F_ALLOW_MULTI)
        except OSError as e:
            # Someone attached a program without ALLOW_MULTI: replace it instead.
            try:
                _attach(cgfd, progfd, 0)
                old = []
            except OSError:
                raise CgroupError(f"devices: attaching the eBPF device filter to {cgroup_dir}: "
                                  f"{e}") from e
        for prog_id in old:
            fd = _fd_by_id(prog_id)
            if fd is None:
                continue
            try:
                _detach(cgfd, fd)
            except OSError:
                pass
            finally:
                os.close(fd)
    finally:
        os.close(cgfd)
        os.close(progfd)
