"""Run a helper program (criu) to completion and collect what it printed.

Written on fork/execv and poll rather than :mod:`subprocess`, which with
``shutil.which`` pulls in ~40 modules (threading, selectors, signal, re, enum,
bz2, lzma...): ~20 ms of a CLI command's start-up on this machine, and 40 times
that under software emulation, where runc's checkpoint.bats gives a lazy page
server two seconds to say it is ready.

Callers are single-threaded (the CLI, a fork server), so forking Python and
running ``before_exec`` in the child is safe; the child does nothing but
redirect, close and exec.  A failure to exec comes back as the :class:`OSError`
the kernel gave (its errno), as subprocess reports it.
"""

from __future__ import annotations

import fcntl
import os
import select
import time

from .._lite import suppress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["Finished", "run", "which"]


class Finished:
    """A program's exit status (negative: killed by that signal) and its output."""

    __slots__ = ("returncode", "stderr", "stdout")

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def which(name: str, path: str | None = None) -> str | None:
    """The first executable regular file ``name`` in ``$PATH`` (as ``shutil.which``
    for a bare name; a name with a slash is checked as given)."""
    if os.sep in name:
        return name if _executable(name) else None
    for d in (path if path is not None else os.environ.get("PATH", os.defpath)).split(os.pathsep):
        cand = os.path.join(d or os.curdir, name)
        if _executable(cand):
            return cand
    return None


def _executable(path: str) -> bool:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return False
    return (st.st_mode & 0o170000) == 0o100000 and os.access(path, os.X_OK)


def run(argv: Sequence[str], *, stdin_null: bool = True, pass_fds: Sequence[int] = (),
        before_exec: Callable[[], None] | None = None,
        timeout: float | None = None) -> Finished:
    """Run ``argv`` (``argv[0]`` a path) with stdout and stderr captured; fds other
    than 0-2 and ``pass_fds`` are closed in the child.  ``stdin_null=False`` lets it
    share our stdin.  Raises :class:`TimeoutError` (the child killed and reaped)
    when it outlives ``timeout`` seconds, :class:`OSError` when it can't be run."""
    args = [os.fsencode(a) for a in argv]
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    exec_r, exec_w = os.pipe2(os.O_CLOEXEC)  # closed by a successful exec
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC) if stdin_null else -1
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child execs or _exits
            _child(args, devnull, out_w, err_w, exec_w, pass_fds, before_exec)
    finally:
        for fd in (out_w, err_w, exec_w, devnull):
            if fd >= 0:
                os.close(fd)
    try:
        failed = _read_all(exec_r)
        if failed:
            os.waitpid(pid, 0)
            code, _, text = failed.decode(errors="replace").partition(":")
            errno = int(code) if code.isdigit() else 0
            raise OSError(errno, text or os.strerror(errno), argv[0])
        deadline = None if timeout is None else time.monotonic() + timeout
        out, err = _collect(pid, out_r, err_r, deadline, timeout)
        status = _wait(pid, deadline, timeout)
    finally:
        for fd in (out_r, err_r, exec_r):
            os.close(fd)
    return Finished(os.waitstatus_to_exitcode(status), out.decode(errors="replace"),
                    err.decode(errors="replace"))


def _child(args: list[bytes], devnull: int, out_w: int, err_w: int, exec_w: int,
           pass_fds: Sequence[int], before_exec: Callable[[], None] | None) -> None:
    try:
        # started with fd 0, 1 or 2 closed, a pipe may sit there: move it out of the way
        devnull, out_w, err_w, exec_w = (
            fd if fd < 0 or fd > 2 else fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
            for fd in (devnull, out_w, err_w, exec_w))
        if devnull >= 0:
            os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        keep = sorted({fd for fd in pass_fds if fd > 2} | {exec_w})
        low = 3
        for fd in keep:
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, 1 << 20)
        for fd in pass_fds:
            os.set_inheritable(fd, True)
        if before_exec is not None:
            before_exec()
        os.execv(args[0], args)
    except BaseException as exc:
        errno = getattr(exc, "errno", None) or 0
        text = getattr(exc, "strerror", None) or str(exc)
        with suppress(BaseException):
            os.write(exec_w, f"{errno}:{text}".encode(errors="replace"))
    finally:
        os._exit(127)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks)


def _kill(pid: int, timeout: float | None) -> TimeoutError:
    with suppress(ProcessLookupError):
        os.kill(pid, 9)
    os.waitpid(pid, 0)
    return TimeoutError(f"{timeout} s")


def _wait(pid: int, deadline: float | None, timeout: float | None) -> int:
    """The child's wait status; past the deadline (a child that closed its output but
    lives on) it is killed and reaped."""
    if deadline is None:
        return os.waitpid(pid, 0)[1]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() >= deadline:
            raise _kill(pid, timeout)
        time.sleep(0.01)


def _collect(pid: int, out_r: int, err_r: int, deadline: float | None,
             timeout: float | None) -> tuple[bytes, bytes]:
    """Both pipes to EOF (the child and whatever it left behind holding them), or
    the child killed once the deadline has passed."""
    bufs: dict[int, list[bytes]] = {out_r: [], err_r: []}
    poller = select.poll()
    for fd in bufs:
        poller.register(fd, select.POLLIN)
    open_fds = set(bufs)
    while open_fds:
        wait = None
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _kill(pid, timeout)
            wait = int(left * 1000) + 1
        for fd, _ in poller.poll(wait):
            chunk = os.read(fd, 65536)
            if chunk:
                bufs[fd].append(chunk)
            else:
                poller.unregister(fd)
                open_fds.discard(fd)
    return b"".join(bufs[out_r]), b"".join(bufs[err_r])
