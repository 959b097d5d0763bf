"""The tiny waiter a created container's init execs into (runcgo/kernel/waiter.py): its
machine code is what its assembly source builds, it waits for the FIFO's byte, then execs
argv[0] with argv[1:] and the environment, and a failed exec says why like the Python init."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from runcgo.kernel import waiter

pytestmark = pytest.mark.skipif(not waiter.supported(), reason="the waiter is x86-64 code")
SRC = Path(waiter.__file__).with_name("waiter_x86_64.s")


@pytest.mark.skipif(not (shutil.which("as") and shutil.which("objcopy")),
                    reason="binutils (as, objcopy) not installed")
def test_code_is_built_from_the_source(tmp_path: Path) -> None:
    subprocess.run(["as", "-o", str(tmp_path / "w.o"), str(SRC)], check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(tmp_path / "w.o"),
                    str(tmp_path / "w.bin")], check=True)
    assert (tmp_path / "w.bin").read_bytes() == waiter.CODE
    assert waiter.CODE.count(waiter.FD_PLACEHOLDER) == 2


CHILDREN: list[int] = []


@pytest.fixture(autouse=True)
def _no_child_left() -> Iterator[None]:
    """A failed assertion must not leave a waiter behind."""
    yield
    while CHILDREN:
        pid = CHILDREN.pop()
        with suppress(ChildProcessError, ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _spawn(argv: list[str], env: dict[str, str], fifo_r: int,
           bpf: bytes | None = None) -> tuple[int, int, int]:
    """Fork a child that execs the waiter (as the init does), with ``bpf`` as its filter
    to load after start; returns (pid, stderr read end, stdout read end)."""
    err_r, err_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            fd = 9
            os.dup2(fifo_r, fd, inheritable=False)
            waiter.exec_waiter(fd, argv[0], argv[1:], env, bpf, 0)
        finally:
            os._exit(99)  # only if the waiter could not be exec'd
    CHILDREN.append(pid)
    os.close(err_w)
    os.close(out_w)
    return pid, err_r, out_r


def _wait_waiting(pid: int) -> None:
    """Until the child runs the waiter and sleeps in its read (a loaded machine is slow)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                sleeping = f.read().rsplit(")", 1)[1].split()[0] == "S"
            if sleeping and os.readlink(f"/proc/{pid}/exe").startswith("/memfd:runcgo-wait"):
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} is not waiting")


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def test_waits_for_the_byte_then_execs(tmp_path: Path) -> None:
    fifo = tmp_path / "exec.fifo"
    os.mkfifo(fifo)
    r = os.open(fifo, os.O_RDWR | os.O_CLOEXEC)
    pid, err_r, out_r = _spawn(["/bin/sh", "sh", "-c", 'echo "$0 $1 $X"; ls /proc/self/fd',
                                "zero", "one"], {"X": "env-ok"}, r)
    try:
        _wait_waiting(pid)
        # Waiting: a small process, blocked, no longer Python, not dumpable.
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
        assert "\nState:\tS" in status
        with open(f"/proc/{pid}/smaps_rollup") as f:
            pss = next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        assert pss < 256, pss  # KiB (a forked Python is thousands)
        assert os.readlink(f"/proc/{pid}/exe").startswith("/memfd:runcgo-wait")
        w = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.write(w, b"0")
        os.close(w)
        _, status_code = os.waitpid(pid, 0)
    finally:
        os.close(r)
    out = _read_all(out_r).decode().splitlines()
    assert _read_all(err_r) == b""
    assert os.waitstatus_to_exitcode(status_code) == 0
    assert out[0] == "zero one env-ok"
    assert {"0", "1", "2"} <= set(out[1:]) and "9" not in out[1:]  # the FIFO's fd was closed


@pytest.mark.parametrize(("name", "mode", "errno_"), [("missing", None, 2), ("text", 0o644, 13),
                                                     ("junk", 0o755, 8)])
def test_failed_exec_is_reported(tmp_path: Path, name: str, mode: int | None, errno_: int) -> None:
    path = str(tmp_path / name)
    if mode is not None:
        Path(path).write_text("no program\n")
        os.chmod(path, mode)
    r, w = os.pipe()
    pid, err_r, out_r = _spawn([path, "x"], {}, r)
    os.write(w, b"0")
    _, status = os.waitpid(pid, 0)
    os.close(r)
    os.close(w)
    _read_all(out_r)
    assert os.waitstatus_to_exitcode(status) == 127
    assert _read_all(err_r).decode() == f"runcgo: exec {path}: {os.strerror(errno_)}\n"


def test_bad_fd_is_refused() -> None:
    with pytest.raises(ValueError):
        waiter.image(-1)


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return code.to_bytes(2, "little") + bytes([jt, jf]) + k.to_bytes(4, "little")


# mkdir (83) and mkdirat (258) fail with EPERM; everything else is allowed.
DENY_MKDIR = (_insn(0x20, 0, 0, 0) + _insn(0x15, 1, 0, 83) + _insn(0x15, 0, 1, 258)
              + _insn(0x06, 0, 0, 0x00050000 | 1) + _insn(0x06, 0, 0, 0x7FFF0000))


def _spawn_filtered(argv: list[str], bpf: bytes) -> tuple[int, str, str]:
    r, w = os.pipe()
    pid, err_r, out_r = _spawn(argv, {"PATH": "/bin:/usr/bin"}, r, bpf)
    _wait_waiting(pid)
    with open(f"/proc/{pid}/status") as f:
        assert "Seccomp:\t0" in f.read()  # not before start: loaded right before the exec
    os.write(w, b"0")
    _, status = os.waitpid(pid, 0)
    for fd in (r, w):
        os.close(fd)
    return os.waitstatus_to_exitcode(status), _read_all(out_r).decode(), _read_all(err_r).decode()


def test_loads_the_seccomp_filter_after_start(tmp_path: Path) -> None:
    target = tmp_path / "d"
    rc, out, err = _spawn_filtered(
        ["/bin/sh", "sh", "-c", f'grep Seccomp: /proc/self/status; mkdir {target} || echo denied'],
        DENY_MKDIR)
    assert rc == 0, err
    assert out.split() == ["Seccomp:", "2", "denied"]
    assert not target.exists()


def test_bad_seccomp_program_is_reported() -> None:
    rc, out, err = _spawn_filtered(["/bin/true", "true"], _insn(0xFFFF, 0, 0, 0))
    assert (rc, out) == (1, "")
    assert err == f"runcgo: seccomp(SECCOMP_SET_MODE_FILTER): {os.strerror(22)}\n"


@pytest.mark.parametrize("sig", [15, 2, 1])
def test_a_fatal_signal_ends_the_wait(sig: int) -> None:
    r, w = os.pipe()
    pid, err_r, out_r = _spawn(["/bin/true", "true"], {}, r)
    _wait_waiting(pid)
    with open(f"/proc/{pid}/status") as f:
        caught = int(next(line for line in f if line.startswith("SigCgt:")).split()[1], 16)
    assert caught & (1 << (sig - 1))
    os.kill(pid, sig)
    _, status = os.waitpid(pid, 0)
    for fd in (r, w):
        os.close(fd)
    _read_all(out_r)
    assert os.waitstatus_to_exitcode(status) == 128 + sig
    assert _read_all(err_r) == b""


def test_end_of_file_ends_the_wait() -> None:
    # Not a busy loop: with no writer left (impossible on the init's O_RDWR FIFO), exit 127.
    r, w = os.pipe()
    pid, err_r, out_r = _spawn(["/bin/true", "true"], {}, r)
    _wait_waiting(pid)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    os.close(r)
    _read_all(out_r)
    _read_all(err_r)
    assert os.waitstatus_to_exitcode(status) == 127
