"""A tiny program for a created container's init to wait in (x86-64).

Between ``create`` and ``start`` the init only waits on the exec FIFO and then execs the
user's program.  Waiting as the forked Python process keeps the whole interpreter, its
imported modules and the spec resident: ~6 MiB PSS, more than ``runc init`` (~5 MiB).  When
what is left after ``start`` is the exec, preceded at most by loading a noNewPrivileges
seccomp filter (no startContainer hooks, no LSM label, no notify listener, and a filter
loaded before the wait lets the waiter's syscalls through: see preexec._prepare_waiter), the
init instead execs this 4 KiB static program from a sealed
memfd, with the final executable, argv and environment as its own argv and envp.  It makes
itself non-dumpable (as the init was), lets each signal whose default is to end a process
end it (exit 128+N: `kill` of a created container stops it, as with runc's init; the
handlers go at the exec), blocks in ``read`` on the FIFO, closes it, loads the
filter if it carries one, and ``execve``s ``argv[0]`` with ``argv[1:]``: what the Python
init would have done, in ~12 KiB PSS.  If the waiter cannot be exec'd (no memfd, a
``vm.memfd_noexec`` policy, an LSM denial), the init waits in Python as before.

The machine code comes from ``waiter_x86_64.s`` beside this file (``as`` + ``objcopy -O
binary``; tests/unit/test_waiter.py rebuilds it and compares).  Two ``mov edi, imm32`` carry
the FIFO's fd (placeholder 0x7ffffff0).  After the code comes the data it addresses
rip-relatively (``_data``): seccomp flags, a has-filter word and a ``struct sock_fprog``;
the fixed message parts; a table of (errno u8, length u8, offset u16) entries ending with
errno 0 and the messages (this libc's ``strerror`` texts, as the Python init prints them);
then the filter program.  A failed exec prints ``runcgo: exec PATH: MESSAGE`` and exits 127,
a failed filter load ``runcgo: seccomp(SECCOMP_SET_MODE_FILTER): MESSAGE`` and exits 1.
"""

from __future__ import annotations

import fcntl
import os

CODE = bytes.fromhex(
    "bf0400000031f6b89d0000000f05488d055c01000048894424c048894424d048c74424c80000000448"
    "c74424d8ffffffffbb01000000b8fefd01ef0fa3d8731689df488d7424c031d241ba08000000b80d00"
    "00000f05ffc383fb2072d9bff0ffff7f488d7424f0ba0100000031c00f054885c07f124883f8fc74e2"
    "bf7f000000b8e70000000f05bff0ffff7fb8030000000f054c8d2df100000041837d04007438bf0100"
    "0000418b7500498d5508b83d0100000f054885c0791ff7d84189c4498d7528ba2a000000e8b1000000"
    "e86a000000bf01000000eb5c488b7c2408488d742410488b0424488d54c410b83b0000000f05f7d841"
    "89c4498d7518ba0d000000e878000000488b74240831d2803c1600740548ffc2ebf5e861000000498d"
    "7525ba02000000e853000000e80c000000bf7f000000b8e70000000f05498d5d540fb6034439e0740a"
    "85c074064883c304ebee0fb653010fb773024c01eee81c000000498d7527ba01000000e80e000000c3"
    "81c780000000b8e70000000f05bf02000000b8010000000f05c3"
)
FD_PLACEHOLDER = (0x7FFFFFF0).to_bytes(4, "little")
BASE = 0x400000
_EHDR, _PHDR = 64, 56
F_SEAL_ALL = 0x1 | 0x2 | 0x4 | 0x8  # SEAL, SHRINK, GROW, WRITE
MFD_EXEC = 0x10  # Linux 6.3+: ask for an executable memfd where vm.memfd_noexec allows it


def _u(value: int, size: int) -> bytes:
    return value.to_bytes(size, "little")


SECCOMP_PREFIX = b"runcgo: seccomp(SECCOMP_SET_MODE_FILTER): "
_TABLE_AT, _TABLE_SLOTS = 84, 134


_errno_table: bytes = b""


def errno_table() -> bytes:
    """The errno table (padded to its slots) and the messages, as the code finds them
    at ``_TABLE_AT``.  Built once per process (~130 ``strerror`` calls: a noticeable
    part of an init's set-up); the fork server builds it before forking any."""
    global _errno_table
    if not _errno_table:
        table, strings = [], []
        off = _TABLE_AT + 4 * _TABLE_SLOTS
        for err in range(1, _TABLE_SLOTS):
            msg = os.strerror(err).encode()
            if msg.startswith(b"Unknown error") or len(msg) > 255:
                continue
            table.append(_u(err, 1) + _u(len(msg), 1) + _u(off, 2))
            strings.append(msg)
            off += len(msg)
        generic = b"error"
        table.append(_u(0, 1) + _u(len(generic), 1) + _u(off, 2))
        strings.append(generic)
        pad = b"\0" * (4 * (_TABLE_SLOTS - len(table)))
        _errno_table = b"".join(table) + pad + b"".join(strings)
    return _errno_table


def _data(at: int, bpf: bytes | None, flags: int) -> bytes:
    """The data after the code, loaded at address ``at``: the fixed part the code reads at
    known offsets, the errno table and messages, then the filter program (8-aligned)."""
    table = errno_table()
    off = _TABLE_AT + len(table)
    prog_at = off + (-(at + off) % 8)
    if bpf:
        if len(bpf) % 8 or not 0 < len(bpf) // 8 <= 0xFFFF:
            raise ValueError(f"seccomp program of {len(bpf)} bytes")
        fprog = _u(len(bpf) // 8, 2) + b"\0" * 6 + _u(at + prog_at, 8)  # struct sock_fprog
    else:
        fprog = b"\0" * 16
    head = (_u(flags, 4) + _u(1 if bpf else 0, 4) + fprog
            + b"runcgo: exec " + b": " + b"\n" + SECCOMP_PREFIX + b"\0\0")
    assert len(head) == _TABLE_AT
    body = head + table
    return body + b"\0" * (prog_at - len(body)) + (bpf or b"")


def image(fifo_fd: int, seccomp_bpf: bytes | None = None, seccomp_flags: int = 0) -> bytes:
    """The ELF executable that waits on ``fifo_fd``, then loads ``seccomp_bpf`` (if any)
    with ``seccomp_flags`` right before the exec (as the Python init does under
    noNewPrivileges)."""
    if not 0 <= fifo_fd < 0x7FFFFFF0:
        raise ValueError(f"fd {fifo_fd}")
    code = CODE.replace(FD_PLACEHOLDER, _u(fifo_fd, 4))
    start = _EHDR + 2 * _PHDR
    body = code + _data(BASE + start + len(code), seccomp_bpf, seccomp_flags)
    size = start + len(body)
    ehdr = (b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8  # 64-bit, little-endian, SysV
            + _u(2, 2) + _u(0x3E, 2) + _u(1, 4)  # ET_EXEC, x86-64, version 1
            + _u(BASE + start, 8)  # entry: the code, right after the headers
            + _u(_EHDR, 8) + _u(0, 8) + _u(0, 4)  # phoff, shoff, flags
            + _u(_EHDR, 2) + _u(_PHDR, 2) + _u(2, 2) + _u(64, 2) + _u(0, 2) + _u(0, 2))
    load = (_u(1, 4) + _u(5, 4) + _u(0, 8) + _u(BASE, 8) + _u(BASE, 8)  # PT_LOAD, R+X
            + _u(size, 8) + _u(size, 8) + _u(0x1000, 8))
    stack = _u(0x6474E551, 4) + _u(6, 4) + b"\0" * 48  # PT_GNU_STACK, RW: no exec stack
    return ehdr + load + stack + body


def supported() -> bool:
    return os.uname().machine == "x86_64"


# The signals the waiter catches (see waiter_x86_64.s: the same mask).
CAUGHT = (1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 24, 25, 26, 27, 29, 30, 31)
_PTRS = (0x7FFC_0000_1000, 0x5555_5555_0000)  # two stand-ins for pointer arguments


def calls_under_filter(fifo_fd: int, memfd: int) -> list[tuple[int, tuple[int, ...]]]:
    """The syscalls (x86-64 numbers, arguments) made after a filter loaded before the wait:
    the init's ``set_inheritable`` (ioctl FIONCLEX, or fcntl) and ``execveat`` of the
    memfd, then the waiter's prctl, rt_sigaction, read, close and execve.  Pointer
    arguments are tried with two values: a filter that looks at them is not trusted."""
    calls: list[tuple[int, tuple[int, ...]]] = []
    for p in _PTRS:
        calls += [(16, (fifo_fd, 0x5450)), (72, (fifo_fd, 1)), (72, (fifo_fd, 2, 0)),
                  (322, (memfd, p, p, p, 0x1000)), (157, (4, 0)),
                  *[(13, (sig, p, 0, 8)) for sig in CAUGHT],
                  (0, (fifo_fd, p, 1)), (3, (fifo_fd,)), (59, (p, p, p))]
    return calls


def prepare(fifo_fd: int, seccomp_bpf: bytes | None = None, seccomp_flags: int = 0) -> int:
    """A sealed memfd holding the waiter for ``fifo_fd``; -1 if one cannot be made."""
    try:
        try:
            fd = os.memfd_create("runcgo-wait", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING | MFD_EXEC)
        except OSError:  # EINVAL before Linux 6.3
            fd = os.memfd_create("runcgo-wait", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    except OSError:
        return -1
    try:
        data = memoryview(image(fifo_fd, seccomp_bpf, seccomp_flags))
        while data:
            data = data[os.write(fd, data):]
        # Nothing can change the program once it runs as the container's PID 1.
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, F_SEAL_ALL)
    except (OSError, ValueError):
        os.close(fd)
        return -1
    return fd


def run(memfd: int, fifo_fd: int, exe: str, args: list[str], env: dict[str, str]) -> None:
    """Become the waiter in ``memfd``; returns (having changed nothing, ``memfd`` closed)
    only if that cannot be done."""
    try:
        os.set_inheritable(fifo_fd, True)
        try:
            os.execve(memfd, [exe, *args], env)
        finally:
            os.set_inheritable(fifo_fd, False)
    except OSError:
        pass
    finally:
        os.close(memfd)


def exec_waiter(fifo_fd: int, exe: str, args: list[str], env: dict[str, str],
                seccomp_bpf: bytes | None = None, seccomp_flags: int = 0) -> None:
    """:func:`prepare` and :func:`run` at once."""
    fd = prepare(fifo_fd, seccomp_bpf, seccomp_flags)
    if fd >= 0:
        run(fd, fifo_fd, exe, args, env)
