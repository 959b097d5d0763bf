"""Run OCI hooks: state JSON on stdin, args/env as given, ``timeout`` honoured.

Written on fork/execve + a pidfd rather than subprocess: the pre-exec child
runs hooks too, and subprocess would drag threading into it.
"""

from __future__ import annotations

import os
import select
import time

from .._lite import suppress
from .signals import SIGKILL, signal_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..spec import Hook


class HookError(Exception):
    """The kind and path, then runc's words ("error running hook #0: exit status 1"),
    which users and tests match on."""

    def __init__(self, kind: str, hook: Hook, message: str, index: int = 0) -> None:
        self.kind = kind
        self.hook = hook
        super().__init__(f"{kind} hook {hook.path}: error running hook #{index}: {message}")


def run_hook(kind: str, hook: Hook, state_json: bytes,
             on_start: Callable[[int], None] | None = None, *, index: int = 0) -> None:
    """Run one hook (the ``index``-th of its kind) to completion; raise HookError on
    failure or timeout.

    The hook leads a session of its own and dies with us (PDEATHSIG): a
    runtime killed while a hook runs must not leave it running.  What the
    hook forked stays in its session, which ``on_start(pid)`` may record so
    that ``delete --force`` can end it (:func:`kill_session`)."""
    r, w = os.pipe()
    errr, errw = os.pipe()
    args = hook.args or [hook.path]
    env = {k: v for k, _, v in (e.partition("=") for e in hook.env or ())}
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.setsid()
            from .syscalls import PR_SET_PDEATHSIG, prctl

            prctl(PR_SET_PDEATHSIG, SIGKILL)
            if os.getppid() != parent:  # we died before the prctl
                os._exit(1)
            os.dup2(r, 0)
            os.dup2(errw, 1)
            os.dup2(errw, 2)
            os.closerange(3, 1 << 16)
            os.execve(hook.path, args, env)
        except OSError as exc:
            os.write(2, f"exec: {exc.strerror}".encode())
        os._exit(127)
    os.close(r)
    os.close(errw)
    pidfd = os.pidfd_open(pid)
    if on_start is not None:
        on_start(pid)
    try:
        with suppress(BrokenPipeError):
            os.write(w, state_json)
        os.close(w)
        deadline = None if not hook.timeout else time.monotonic() + hook.timeout
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.register(errr, select.POLLIN)
        output = bytearray()
        exited = False
        while not exited:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            # poll takes a C int of milliseconds: a long timeout is waited in slices
            events = poller.poll(None if left is None else min(int(left * 1000) + 1, 1 << 30))
            for fd, _ev in events:
                if fd == pidfd:
                    exited = True
                else:
                    data = os.read(errr, 65536)
                    if data:
                        output += data
                        del output[:-4096]
                    else:
                        poller.unregister(errr)
            if not events and deadline is not None and time.monotonic() >= deadline:
                with suppress(ProcessLookupError):
                    os.killpg(pid, SIGKILL)  # the hook and what it forked
                os.waitpid(pid, 0)
                raise HookError(kind, hook, f"timed out after {hook.timeout}s", index)
        _, status = os.waitpid(pid, 0)
        stderr = (bytes(output) + _read_all(errr)).decode(errors="replace")[-500:]
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            detail = f": {stderr.strip()}" if stderr.strip() else ""
            what = f"exit status {code}" if code > 0 else f"signal: {signal_text(-code)}"
            raise HookError(kind, hook, what + detail, index)
    finally:
        os.close(pidfd)
        os.close(errr)


def _read_all(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks = []
    with suppress(BlockingIOError):
        while data := os.read(fd, 65536):
            chunks.append(data)
    return b"".join(chunks)


def run_hooks(kind: str, hooks: list[Hook] | None, state_json: bytes,
              on_start: Callable[[int], None] | None = None) -> None:
    for index, hook in enumerate(hooks or ()):
        run_hook(kind, hook, state_json, on_start, index=index)


def kill_session(sid: int, not_before: int) -> int:
    """SIGKILL every process of session ``sid`` that started at or after
    ``not_before`` (clock ticks since boot, /proc/PID/stat field 22); how many.

    A pid stays allocated while it names a live session, so the members of
    a recorded hook's session are the hook's own as long as any is alive."""
    n = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rindex(b")") + 2:].split()
        if int(rest[3]) != sid or int(rest[19]) < not_before or rest[0] in (b"Z", b"X"):
            continue
        with suppress(ProcessLookupError):
            os.kill(int(name), SIGKILL)
            n += 1
    return n
