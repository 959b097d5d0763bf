"""Signal names and numbers, and the foreground wait that forwards signals."""

from __future__ import annotations

import os

from .._lite import suppress

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
else:
    # The C module: ``signal`` wraps it in enums, and importing ``enum`` costs
    # about 1 ms -- in every short-lived command.
    import _signal

SIGKILL: int = _signal.SIGKILL
SIGTERM: int = _signal.SIGTERM
pidfd_send_signal = _signal.pidfd_send_signal


def signal_text(signum: int) -> str:
    """"bad system call": libc's text lower-cased, as Go's exec errors (and so runc's
    messages) spell a signal."""
    text = _signal.strsignal(signum) or f"signal {signum}"
    return text[:1].lower() + text[1:]


# Signals a foreground `run` must not forward: the child-exit notification,
# window changes (the terminal relay handles those), and the ones no one can catch.
_NOT_FORWARDED = {_signal.SIGCHLD, _signal.SIGWINCH, _signal.SIGKILL, _signal.SIGSTOP}


def wait_pidfd(pidfd: int, timeout: float) -> bool:
    """Wait up to ``timeout`` s for the process behind ``pidfd`` to exit; True if
    it has.  poll, not select: select(2) can't watch an fd numbered 1024 or
    more, which a caller tracking many containers soon hands out."""
    import select

    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(max(0, int(timeout * 1000))))


def parse(name: str) -> int:
    """'KILL', 'SIGKILL', 'kill' or '9' -> 9; ValueError naming the input otherwise.

    0 is accepted, as by runc and kill(1): it checks that the target exists."""
    text = name.strip()
    if text.isdigit():
        num = int(text)
        if 0 <= num < _signal.NSIG:
            return num
        raise ValueError(f"invalid signal {name!r}")
    up = text.upper()
    if not up.startswith("SIG"):
        up = "SIG" + up
    if up.startswith("SIGRTMIN+") or up.startswith("SIGRTMAX-"):
        base = _signal.SIGRTMIN if up.startswith("SIGRTMIN") else _signal.SIGRTMAX
        off = up[9:]
        if off.isdigit():
            num = base + int(off) if up.startswith("SIGRTMIN") else base - int(off)
            if _signal.SIGRTMIN <= num <= _signal.SIGRTMAX:
                return num
        raise ValueError(f"invalid signal {name!r}")
    found = getattr(_signal, up, None) if not up.startswith("SIG_") else None
    if not isinstance(found, int):
        raise ValueError(f"unknown signal {name!r}")
    return found


def exit_code(status: int) -> int:
    """Wait status -> shell-style exit code (128+N for a signal)."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def hold() -> set[int]:
    """Block every forwardable signal; returns the previous mask for release()."""
    forwardable = {s for s in _signal.valid_signals() if s not in _NOT_FORWARDED}
    return _signal.pthread_sigmask(_signal.SIG_BLOCK, forwardable)


def clear_mask() -> None:
    """Unblock everything (a blocked mask survives execve)."""
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])


def release(previous: set[int]) -> None:
    _signal.pthread_sigmask(_signal.SIG_SETMASK, previous)


class Forwarder:
    """Forward every catchable signal we receive to ``pid``; reap it and report its code.

    Installed *before* the container starts, so a signal that arrives while
    the user's program is starting is forwarded, not fatal to us.  The caller
    must be ``pid``'s parent or subreaper; other orphans are reaped on the way.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._previous: dict[int, object] = {}

    def _forward(self, signum: int, _frame: object) -> None:
        if self.pid > 0:  # never 0: kill(0) would signal our own process group
            with suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def install(self) -> None:
        for sig in map(int, _signal.valid_signals()):
            if sig in _NOT_FORWARDED:
                continue
            with suppress(OSError, ValueError):
                self._previous[sig] = _signal.signal(sig, self._forward)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            with suppress(OSError, ValueError, TypeError):
                _signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def wait(self) -> int:
        try:
            while True:
                try:
                    got, status = os.waitpid(-1, 0)
                except ChildProcessError:
                    return 255
                if got == self.pid:
                    return exit_code(status)
        finally:
            self.restore()


def forward_and_wait(pid: int) -> int:
    fwd = Forwarder(pid)
    fwd.install()
    return fwd.wait()
