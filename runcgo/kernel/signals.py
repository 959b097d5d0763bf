"""Signal names and numbers, and the foreground wait that forwards signals."""

from __future__ import annotations

import contextlib
import os
import signal

# Signals a foreground `run` must not forward: the child-exit notification,
# window changes (the terminal relay handles those), and the ones no one can catch.
_NOT_FORWARDED = {signal.SIGCHLD, signal.SIGWINCH, signal.SIGKILL, signal.SIGSTOP}


def parse(name: str) -> int:
    """'KILL', 'SIGKILL', 'kill' or '9' -> 9; ValueError naming the input otherwise."""
    text = name.strip()
    if text.isdigit():
        num = int(text)
        if 0 < num < signal.NSIG:
            return num
        raise ValueError(f"invalid signal {name!r}")
    up = text.upper()
    if not up.startswith("SIG"):
        up = "SIG" + up
    if up.startswith("SIGRTMIN+") or up.startswith("SIGRTMAX-"):
        base = signal.SIGRTMIN if up.startswith("SIGRTMIN") else signal.SIGRTMAX
        off = up[9:]
        if off.isdigit():
            num = base + int(off) if up.startswith("SIGRTMIN") else base - int(off)
            if signal.SIGRTMIN <= num <= signal.SIGRTMAX:
                return num
        raise ValueError(f"invalid signal {name!r}")
    try:
        return int(signal.Signals[up])
    except KeyError:
        raise ValueError(f"unknown signal {name!r}") from None


def exit_code(status: int) -> int:
    """Wait status -> shell-style exit code (128+N for a signal)."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def hold() -> set[int | signal.Signals]:
    """Block every forwardable signal; returns the previous mask for release()."""
    forwardable = {s for s in signal.valid_signals() if s not in _NOT_FORWARDED}
    return signal.pthread_sigmask(signal.SIG_BLOCK, forwardable)


def release(previous: set[int | signal.Signals]) -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def install(self) -> None:
        for sig in map(int, signal.valid_signals()):
            if sig in _NOT_FORWARDED:
                continue
            with contextlib.suppress(OSError, ValueError):
                self._previous[sig] = signal.signal(sig, self._forward)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(sig, handler)  # type: ignore[arg-type]
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
