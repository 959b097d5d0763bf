"""seccomp_eval runs a compiled filter in Python: its verdicts are the kernel's for the same
filter and syscalls (checked by loading the filter in a child), and what it cannot follow
is "not allowed"."""

from __future__ import annotations

import ctypes
import os
from typing import Any

import pytest

from runcgo.kernel import seccomp, seccomp_eval
from runcgo.kernel.seccomp_bpf import seccomp_set_filter
from runcgo.spec import LinuxSeccomp, convert

PROFILE: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7},
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 0x1234, "op": "SCMP_CMP_EQ"}]},
        {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 100, "op": "SCMP_CMP_GT"}]},
    ],
}
CALLS = [(39, ()), (110, ()), (135, (0x1234,)), (135, (0xFFFFFFFF,)), (121, (0,)), (121, (101,))]

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86-64 syscall numbers")


def _program() -> bytes:
    prepared = seccomp.prepare(convert(PROFILE, LinuxSeccomp, "$.linux.seccomp"))
    assert prepared is not None
    return prepared.bpf


def _kernel_errnos(program: bytes) -> list[int]:
    """Each call's errno (0: it went through) under the loaded filter, in a child."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
            seccomp_set_filter(program, 0)
            out = []
            for nr, args in CALLS:
                ctypes.set_errno(0)
                rc = libc.syscall(nr, *[ctypes.c_ulong(a) for a in args])
                out.append(ctypes.get_errno() if rc == -1 else 0)
            os.write(w, bytes(out))
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 64)
    os.close(r)
    os.waitpid(pid, 0)
    return list(data)


def test_verdicts_match_the_kernel() -> None:
    program = _program()
    ours = []
    for nr, args in CALLS:
        ret = seccomp_eval.run(program, nr, args)
        action = ret & seccomp_eval.RET_ACTION_FULL
        assert action in (0x7FFF0000, 0x00050000), hex(ret)
        ours.append(0 if action == 0x7FFF0000 else ret & 0xFFFF)
    # getpid ok, getppid 7, personality(0x1234) EPERM, a query ok, getpgid(0) ok, (101) EPERM
    assert ours == [0, 7, 1, 0, 0, 1]
    assert _kernel_errnos(program) == ours


def test_allows() -> None:
    program = _program()
    assert seccomp_eval.allows(program, [(39, ()), (135, (0xFFFFFFFF,))])
    assert not seccomp_eval.allows(program, [(39, ()), (110, ())])


def test_what_it_cannot_follow_is_not_allowed() -> None:
    ld_half = (0x28).to_bytes(2, "little") + b"\0\0" + (0).to_bytes(4, "little")  # LD H ABS
    ret_allow = (0x06).to_bytes(2, "little") + b"\0\0" + (0x7FFF0000).to_bytes(4, "little")
    assert not seccomp_eval.allows(ld_half + ret_allow, [(39, ())])
    assert seccomp_eval.allows(ret_allow, [(39, ())])
    assert not seccomp_eval.allows(b"", [(39, ())])
