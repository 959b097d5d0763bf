"""A tiny program for a created container's init to wait in (x86-64).

Between ``create`` and ``start`` the init only waits on the exec FIFO and then execs the
user's program.  Waiting as the forked Python process keeps the whole interpreter, its
imported modules and the spec resident: ~6 MiB PSS, more than ``runc init`` (~5 MiB).  When
nothing is left to do in Python after ``start`` (no seccomp filter still to load, no
``startContainer`` hooks, no LSM label for the exec), the init instead execs this 4 KiB
static program from a sealed memfd, with the final executable, argv and environment as its
own argv and envp.  It makes itself non-dumpable (as the init was), blocks in ``read`` on the
FIFO, closes it and ``execve``s ``argv[0]`` with ``argv[1:]``: what the Python init would have
done, in ~40 KiB.  If the exec of the waiter fails (no memfd, a ``vm.memfd_noexec`` policy, an
LSM denial), the init waits in Python as before.

The machine code comes from ``waiter_x86_64.s`` beside this file (``as`` + ``objcopy -O
binary``; tests/unit/test_waiter.py rebuilds it and compares).  Two ``mov edi, imm32`` carry
the FIFO's fd (placeholder 0x7ffffff0).  After the code comes the data it addresses
rip-relatively: ``"runcgo: exec "``, ``": "``, ``"\\n"``, then a table of (errno u8,
length u8, offset u16) entries ending with errno 0, then the messages (this libc's
``strerror`` texts, as the Python init prints them on a failed exec).
"""

from __future__ import annotations

import fcntl
import os

CODE = bytes.fromhex(
    "bf0400000031f6b89d0000000f05bff0ffff7f488d7424f0ba0100000031c00f054885c07f1474e648"
    "83f8fc74e0bf7f000000b8e70000000f05bff0ffff7fb8030000000f05488b7c2408488d742410488b"
    "0424488d54c410b83b0000000f05f7d84189c44c8d2d7f0000004c89eeba0d000000e865000000488b"
    "74240831d2803c1600740548ffc2ebf5e84e000000498d750dba02000000e840000000498d5d100fb6"
    "034439e0740a85c074064883c304ebee0fb653010fb773024c01eee81a000000498d750fba01000000"
    "e80c000000bf7f000000b8e70000000f05bf02000000b8010000000f05c3"
)
FD_PLACEHOLDER = (0x7FFFFFF0).to_bytes(4, "little")
BASE = 0x400000
_EHDR, _PHDR = 64, 56
F_SEAL_ALL = 0x1 | 0x2 | 0x4 | 0x8  # SEAL, SHRINK, GROW, WRITE
MFD_EXEC = 0x10  # Linux 6.3+: ask for an executable memfd where vm.memfd_noexec allows it


def _u(value: int, size: int) -> bytes:
    return value.to_bytes(size, "little")


def _data() -> bytes:
    table, strings = [], []
    off = 16 + 4 * 134  # after the fixed strings and the table (up to 133 entries + end)
    for err in range(1, 134):
        msg = os.strerror(err).encode()
        if msg.startswith(b"Unknown error") or len(msg) > 255:
            continue
        table.append(_u(err, 1) + _u(len(msg), 1) + _u(off, 2))
        strings.append(msg)
        off += len(msg)
    generic = b"exec failed"
    table.append(_u(0, 1) + _u(len(generic), 1) + _u(off, 2))
    strings.append(generic)
    head = b"runcgo: exec " + b": " + b"\n"
    pad = b"\0" * (4 * 134 - 4 * len(table))
    return head + b"".join(table) + pad + b"".join(strings)


def image(fifo_fd: int) -> bytes:
    """The ELF executable that waits on ``fifo_fd``."""
    if not 0 <= fifo_fd < 0x7FFFFFF0:
        raise ValueError(f"fd {fifo_fd}")
    code = CODE.replace(FD_PLACEHOLDER, _u(fifo_fd, 4))
    body = code + _data()
    size = _EHDR + 2 * _PHDR + len(body)
    ehdr = (b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8  # 64-bit, little-endian, SysV
            + _u(2, 2) + _u(0x3E, 2) + _u(1, 4)  # ET_EXEC, x86-64, version 1
            + _u(BASE + _EHDR + 2 * _PHDR, 8)  # entry: the code, right after the headers
            + _u(_EHDR, 8) + _u(0, 8) + _u(0, 4)  # phoff, shoff, flags
            + _u(_EHDR, 2) + _u(_PHDR, 2) + _u(2, 2) + _u(64, 2) + _u(0, 2) + _u(0, 2))
    load = (_u(1, 4) + _u(5, 4) + _u(0, 8) + _u(BASE, 8) + _u(BASE, 8)  # PT_LOAD, R+X
            + _u(size, 8) + _u(size, 8) + _u(0x1000, 8))
    stack = _u(0x6474E551, 4) + _u(6, 4) + b"\0" * 48  # PT_GNU_STACK, RW: no exec stack
    return ehdr + load + stack + body


def supported() -> bool:
    return os.uname().machine == "x86_64"


def exec_waiter(fifo_fd: int, exe: str, args: list[str], env: dict[str, str]) -> None:
    """Become the waiter; returns (having changed nothing) only if that cannot be done."""
    try:
        try:
            fd = os.memfd_create("runcgo-wait", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING | MFD_EXEC)
        except OSError:  # EINVAL before Linux 6.3
            fd = os.memfd_create("runcgo-wait", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    except OSError:
        return
    try:
        data = memoryview(image(fifo_fd))
        while data:
            data = data[os.write(fd, data):]
        # Nothing can change the program once it runs as the container's PID 1.
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, F_SEAL_ALL)
        os.set_inheritable(fifo_fd, True)
        try:
            os.execve(fd, [exe, *args], env)
        finally:
            os.set_inheritable(fifo_fd, False)
    except (OSError, ValueError):
        pass
    finally:
        os.close(fd)
