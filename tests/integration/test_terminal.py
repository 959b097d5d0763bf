"""Terminals: the async relay of `run -t` / `exec -t`, and the console-socket handoff."""

from __future__ import annotations

import array
import fcntl
import os
import pty
import select
import signal
import socket
import struct
import termios
import time
from pathlib import Path

import pytest

from harness import Runcgo, runcgo_cmd

BACKENDS = ["asyncio", "trio"]


class Term:
    """runcgo started on a real pty of ours (pty.fork): we type, we read the screen."""

    def __init__(self, argv: list[str], backend: str, rows: int = 24, cols: int = 80) -> None:
        env = dict(os.environ, RUNCGO_ASYNC_BACKEND=backend, TERM="xterm")
        pid, fd = pty.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.set_size(rows, cols)
        self.buf = b""
        self.status: int | None = None

    def set_size(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def expect(self, needle: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while needle.encode() not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{needle!r} not seen; screen so far: {self.buf[-2000:]!r}")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                self.buf += data
        if needle.encode() not in self.buf:
            raise AssertionError(f"{needle!r} not seen; screen: {self.buf[-2000:]!r}")
        return self.buf.decode(errors="replace")

    def wait(self, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with __import__("contextlib").suppress(OSError):
                r, _, _ = select.select([self.fd], [], [], 0.05)
                if r:
                    self.buf += os.read(self.fd, 65536)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                return self.status
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"runcgo did not exit; screen: {self.buf[-2000:]!r}")

    def close(self) -> None:
        if self.status is None:
            with __import__("contextlib").suppress(ProcessLookupError, ChildProcessError):
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        os.close(self.fd)


def tty_bundle(runcgo: Runcgo, args: list[str], **edits: object) -> tuple[str, Path]:
    return runcgo.bundle(args, **{"process.terminal": True}, **edits)


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_t_interactive_shell(runcgo: Runcgo, backend: str) -> None:
    cid, bundle = tty_bundle(runcgo, ["sh"])
    t = Term([*runcgo_cmd(), "--root", str(runcgo.root), "run", "--bundle", str(bundle), cid],
             backend, rows=30, cols=100)
    try:
        attrs_before = termios.tcgetattr(t.fd)
        t.expect("# ")
        t.type("echo $((6*7)); tty; stty size\r")
        screen = t.expect("30 100")
        assert "\n42\r" in screen.replace("\r\n", "\n\r") or "42\r\n" in screen
        assert "/dev/pts/0" in screen
        t.set_size(40, 120)  # the kernel sends SIGWINCH to runcgo, which resizes the inner pty
        for _ in range(20):  # the resize is asynchronous: ask until the shell sees it
            t.type("stty size\r")
            try:
                t.expect("40 120", timeout=0.5)
                break
            except AssertionError:
                continue
        t.expect("40 120")
        # Ctrl-C is a character for the container's tty: it interrupts sleep, not runcgo
        t.type("sleep 30\r")
        time.sleep(0.5)
        t.type("\x03")
        t.type("echo after-ctrl-c\r")
        t.expect("after-ctrl-c\r\n")
        t.type("exit 3\r")
        assert t.wait() == 3
        assert termios.tcgetattr(t.fd) == attrs_before  # the terminal is restored
    finally:
        t.close()
    assert not (runcgo.root / cid).exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_t_forwards_sigterm(runcgo: Runcgo, backend: str) -> None:
    cid, bundle = tty_bundle(runcgo, ["sh", "-c", "trap 'echo got-term; exit 4' TERM; "
                                                  "echo ready; while :; do sleep 0.05; done"])
    t = Term([*runcgo_cmd(), "--root", str(runcgo.root), "run", "--bundle", str(bundle), cid],
             backend)
    try:
        attrs_before = termios.tcgetattr(t.fd)
        t.expect("ready")
        os.kill(t.pid, signal.SIGTERM)
        assert t.wait() == 4
        assert "got-term" in t.buf.decode()
        assert termios.tcgetattr(t.fd) == attrs_before
    finally:
        t.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_exec_t_foreground(runcgo: Runcgo, backend: str) -> None:
    cid, bundle = runcgo.bundle(["sleep", "300"])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    t = Term([*runcgo_cmd(), "--root", str(runcgo.root), "exec", "-t", cid, "sh"], backend,
             rows=25, cols=90)
    try:
        t.expect("# ")
        t.type("stty size; tty\r")
        screen = t.expect("/dev/pts/")
        assert "25 90" in screen
        t.type("exit 6\r")
        assert t.wait() == 6
    finally:
        t.close()
        runcgo("delete", "-f", cid)


def test_run_t_with_piped_stdin(runcgo: Runcgo) -> None:
    """terminal: true but our stdin is a pipe: input is still relayed."""
    cid, bundle = tty_bundle(runcgo, ["sh", "-c", "read x; echo got:$x"])
    r = runcgo("run", "--bundle", str(bundle), cid, input="abc\n")
    assert r.returncode == 0, r.stderr
    assert "got:abc" in r.stdout


def test_run_t_with_stdin_from_dev_null(runcgo: Runcgo, tmp_path: Path) -> None:
    """`run </dev/null` with terminal: true: /dev/null (or a file) can't be polled,
    it is read at once and ends the input; the container still gets its terminal."""
    import subprocess

    cid, bundle = tty_bundle(runcgo, ["sh", "-c", "stty size; read x; echo got:$x"])
    r = runcgo("run", "--bundle", str(bundle), cid)  # the harness's stdin is /dev/null
    assert r.returncode == 0, r.stderr
    assert "got:" in r.stdout and "Traceback" not in r.stderr
    (tmp_path / "in.txt").write_text("from-a-file\n")
    cid, bundle = tty_bundle(runcgo, ["sh", "-c", "read x; echo got:$x"])
    with open(tmp_path / "in.txt") as f:
        p = subprocess.run([*runcgo_cmd(), "--root", str(runcgo.root), "run", "--bundle", str(bundle),
                            cid], stdin=f, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "got:from-a-file" in p.stdout, p.stderr


@pytest.mark.parametrize("how", ["run", "exec"])
def test_terminal_belongs_to_the_process_user(runcgo: Runcgo, tmp_path: Path, how: str) -> None:
    """The pty of a uid-1000 process is owned by uid 1000; its group stays devpts' gid=5."""
    script = ["sh", "-c", "stat -c %u:%g $(tty)"]
    if how == "run":
        cid, bundle = tty_bundle(runcgo, script, **{"process.user": {"uid": 1000, "gid": 100}})
        r = runcgo("run", "--bundle", str(bundle), cid)
    else:
        cid, bundle = runcgo.bundle(["sleep", "300"])
        runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
        r = runcgo("exec", "-t", "--user", "1000:100", cid, *script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "1000:5"


def recv_master(listener: socket.socket) -> tuple[int, bytes]:
    conn, _ = listener.accept()
    with conn:
        fds = array.array("i")
        msg, anc, _flags, _addr = conn.recvmsg(4096, socket.CMSG_SPACE(4 * fds.itemsize))
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    assert len(fds) == 1, "exactly one fd in one message"
    return fds[0], msg


def read_until(fd: int, needle: bytes, timeout: float = 10) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            buf += os.read(fd, 4096)
    assert needle in buf, buf
    return buf


def test_console_socket_create_accept_after_return(runcgo: Runcgo, tmp_path: Path) -> None:
    cid, bundle = runcgo.bundle(["sh"], **{"process.terminal": True,
                                           "process.consoleSize": {"height": 33, "width": 77}})
    sock_path = tmp_path / "console.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen(1)
    try:
        r = runcgo("create", "--bundle", str(bundle), "--console-socket", str(sock_path), cid)
        assert r.returncode == 0, r.stderr
        # containerd accepts only after create has returned
        master, name = recv_master(listener)
    finally:
        listener.close()
    try:
        assert name.startswith(b"/dev/pts/")
        runcgo("start", cid, check=True)
        os.write(master, b"stty size; ls -l /dev/console; echo $((40+2))\r")
        out = read_until(master, b"42\r\n")
        assert b"33 77" in out
        assert b"136," in out  # /dev/console is the pty peer (major 136)
        os.write(master, b"exit\r")
    finally:
        os.close(master)
        runcgo("delete", "-f", cid)


def test_console_socket_exec_detached(runcgo: Runcgo, tmp_path: Path) -> None:
    cid, bundle = runcgo.bundle(["sleep", "300"])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    sock_path = tmp_path / "exec.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen(1)
    pidfile = tmp_path / "exec.pid"
    try:
        r = runcgo("exec", "-t", "-d", "--console-socket", str(sock_path), "--pid-file",
                   str(pidfile), cid, "sh")
        assert r.returncode == 0, r.stderr
        master, _ = recv_master(listener)
    finally:
        listener.close()
    try:
        os.write(master, b"tty; echo $((5*5))\r")
        out = read_until(master, b"25\r\n")
        assert b"/dev/pts/" in out
        os.write(master, b"exit\r")
    finally:
        os.close(master)
        runcgo("delete", "-f", cid)
