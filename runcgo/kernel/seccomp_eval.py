"""Run a compiled seccomp filter (classic BPF) on given syscalls, in Python.

Used to know, before relying on it, what a filter that is already loaded will say to a few
syscalls runcgo itself still has to make under it (the waiting init's: waiter.py).  The
filter is the exact program loaded (libseccomp's output or the cache's), so the answer is the
kernel's, for the argument values given.  An instruction this interpreter does not know makes
the answer "not allowed", never a guess.
"""

from __future__ import annotations

AUDIT_ARCH_X86_64 = 0xC000003E
RET_ACTION_FULL = 0xFFFF0000
ALLOWING = (0x7FFF0000, 0x7FFC0000)  # SECCOMP_RET_ALLOW, SECCOMP_RET_LOG
_M32 = 0xFFFFFFFF


class Unknown(Exception):
    """An instruction or an access the evaluator cannot follow."""


def _seccomp_data(nr: int, args: tuple[int, ...], arch: int, ip: int) -> bytes:
    full = (list(args) + [0] * 6)[:6]
    return (nr.to_bytes(4, "little") + arch.to_bytes(4, "little") + ip.to_bytes(8, "little")
            + b"".join((a & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little") for a in full))


def run(program: bytes, nr: int, args: tuple[int, ...] = (), arch: int = AUDIT_ARCH_X86_64,
        ip: int = 0x401000) -> int:
    """The filter's return value for this syscall (raises :class:`Unknown`)."""
    data = _seccomp_data(nr, args, arch, ip)
    insns = [(int.from_bytes(program[i:i + 2], "little"), program[i + 2], program[i + 3],
              int.from_bytes(program[i + 4:i + 8], "little")) for i in range(0, len(program), 8)]
    a = x = 0
    mem = [0] * 16
    pc = 0
    for _ in range(len(insns) + 1):  # classic BPF only jumps forward
        if pc >= len(insns):
            raise Unknown("ran off the end")
        code, jt, jf, k = insns[pc]
        pc += 1
        cls = code & 0x07
        if cls == 0x00:  # LD
            mode, size = code & 0xE0, code & 0x18
            if mode == 0x20 and size == 0x00:  # ABS, W
                if k % 4 or k + 4 > len(data):
                    raise Unknown(f"load at {k}")
                a = int.from_bytes(data[k:k + 4], "little")
            elif mode == 0x00:  # IMM
                a = k
            elif mode == 0x60:  # MEM
                a = mem[k]
            elif mode == 0x80:  # LEN
                a = len(data)
            else:
                raise Unknown(f"ld {code:#x}")
        elif cls == 0x01:  # LDX
            mode = code & 0xE0
            if mode == 0x00:
                x = k
            elif mode == 0x60:
                x = mem[k]
            elif mode == 0x80:
                x = len(data)
            else:
                raise Unknown(f"ldx {code:#x}")
        elif cls == 0x02:  # ST
            mem[k] = a
        elif cls == 0x03:  # STX
            mem[k] = x
        elif cls == 0x04:  # ALU
            op, src = code & 0xF0, (x if code & 0x08 else k)
            if op == 0x00:
                a = (a + src) & _M32
            elif op == 0x10:
                a = (a - src) & _M32
            elif op == 0x20:
                a = (a * src) & _M32
            elif op == 0x30:
                if not src:
                    raise Unknown("division by zero")
                a //= src
            elif op == 0x40:
                a |= src
            elif op == 0x50:
                a &= src
            elif op == 0x60:
                a = (a << src) & _M32 if src < 32 else 0
            elif op == 0x70:
                a = a >> src if src < 32 else 0
            elif op == 0x80:
                a = (-a) & _M32
            elif op == 0x90:
                if not src:
                    raise Unknown("modulo by zero")
                a %= src
            elif op == 0xA0:
                a ^= src
            else:
                raise Unknown(f"alu {code:#x}")
        elif cls == 0x05:  # JMP
            op, src = code & 0xF0, (x if code & 0x08 else k)
            if op == 0x00:  # JA
                pc += k
                continue
            if op == 0x10:
                taken = a == src
            elif op == 0x20:
                taken = a > src
            elif op == 0x30:
                taken = a >= src
            elif op == 0x40:
                taken = bool(a & src)
            else:
                raise Unknown(f"jmp {code:#x}")
            pc += jt if taken else jf
        elif cls == 0x06:  # RET
            return a if code & 0x18 == 0x10 else k
        elif cls == 0x07:  # MISC
            if code == 0x07:  # TAX
                x = a
            elif code == 0x87:  # TXA
                a = x
            else:
                raise Unknown(f"misc {code:#x}")
    raise Unknown("no return")


def allows(program: bytes, calls: list[tuple[int, tuple[int, ...]]]) -> bool:
    """True if the filter lets every one of ``calls`` (nr, args) through (ALLOW or LOG).
    Arguments that are pointers should be given as ``None``-free values; callers try two
    different values for them (see waiter.calls_under_filter)."""
    try:
        return all(run(program, nr, args) & RET_ACTION_FULL in ALLOWING for nr, args in calls)
    except (Unknown, IndexError):
        return False
