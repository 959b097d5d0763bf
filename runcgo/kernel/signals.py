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


def forward_and_wait(pid: int) -> int:
    """Forward every catchable signal to ``pid`` until it exits; return its exit code.

    The caller must be ``pid``'s parent (or subreaper) so that it can reap it;
    other orphans that land on us are reaped along the way.
    """
    previous: dict[int, object] = {}

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    for sig in map(int, signal.valid_signals()):
        if sig in _NOT_FORWARDED:
            continue
        with contextlib.suppress(OSError, ValueError):
            previous[sig] = signal.signal(sig, forward)
    try:
        while True:
            try:
                got, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return 255
            if got == pid:
                return exit_code(status)
    finally:
        for sig, handler in previous.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(sig, handler)  # type: ignore[arg-type]
