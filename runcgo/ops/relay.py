"""The async terminal relay of ``run -t`` and ``exec -t`` in the foreground.

One anyio task group supervises everything that happens at once while the
container runs: stdin -> pty master, master -> stdout, signal forwarding
(SIGWINCH becomes a resize of the container's pty), and waiting for the exit
through a pidfd.  When the process exits the group is cancelled, the output
still buffered in the pty is drained, and the terminal is restored on every
path (normal exit, kill, our own SIGTERM, an exception).

Runs on asyncio by default; ``RUNCGO_ASYNC_BACKEND=trio`` selects trio.
anyio is imported here only, so the commands Docker calls never pay for it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import termios
import tty
from collections.abc import Iterator

import anyio
import anyio.lowlevel

from ..kernel import console as C
from ..kernel import syscalls as sc
from ..kernel.signals import exit_code

FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2, signal.SIGCONT, signal.SIGWINCH, signal.SIGALRM, signal.SIGPWR)


def backend() -> str:
    return os.environ.get("RUNCGO_ASYNC_BACKEND", "asyncio")


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """Raw mode on our terminal (if it is one), always restored."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def blocked_signals() -> Iterator[None]:
    """Hold the signals we forward until the relay can receive them."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _copy_size(src: int, master: int) -> None:
    if os.isatty(src):
        rows, cols = C.get_size(src)
        C.set_size(master, rows, cols)


def _pollable(fd: int) -> bool:
    """Regular files and /dev/null (stdin of a service or a CI job) cannot be
    watched with epoll (EPERM); they never block, so they are simply read."""
    import select

    ep = select.epoll()
    try:
        ep.register(fd, select.EPOLLIN)
    except PermissionError:
        return False
    except OSError:
        return True  # let the event loop report anything else
    finally:
        ep.close()
    return True


async def _pump_in(master: int, stdin: int) -> None:
    pollable = _pollable(stdin)
    while True:
        if pollable:
            await anyio.wait_readable(stdin)
        else:
            await anyio.lowlevel.checkpoint()
        data = os.read(stdin, 65536)
        if not data:
            # Piped input ended: the terminal's end-of-file character.
            with contextlib.suppress(OSError):
                os.write(master, b"\x04")
            return
        view = memoryview(data)
        while view:
            await anyio.wait_writable(master)
            try:
                n = os.write(master, view)
            except BlockingIOError:
                continue
            view = view[n:]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


async def _pump_out(master: int, stdout: int) -> None:
    """master -> stdout.  A pty hands out a few KiB per read: read until it is
    empty before waiting again (one readiness registration per burst, not per
    read), yielding to the other tasks every ``_BURST`` reads."""
    while True:
        await anyio.wait_readable(master)
        for _ in range(_BURST):
            try:
                data = os.read(master, 65536)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EIO:  # every peer fd closed
                    return
                raise
            if not data:
                return
            _write_all(stdout, data)
        else:
            await anyio.lowlevel.checkpoint()


_BURST = 64


def _drain(master: int, stdout: int) -> None:
    """What the process wrote just before exiting is still in the pty."""
    while True:
        try:
            data = os.read(master, 65536)
        except (BlockingIOError, OSError):
            return
        if not data:
            return
        _write_all(stdout, data)


async def _forward_signals(pid: int, master: int, stdin: int) -> None:
    with anyio.open_signal_receiver(*FORWARDED) as signals:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
        async for signum in signals:
            if signum == signal.SIGWINCH:
                with contextlib.suppress(OSError):
                    _copy_size(stdin, master)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)


async def _wait_exit(pid: int) -> int:
    pidfd = os.pidfd_open(pid)
    try:
        await anyio.wait_readable(pidfd)
    finally:
        os.close(pidfd)
    while True:
        got, status = os.waitpid(-1, 0)
        if got == pid:
            return exit_code(status)


async def relay(master: int, pid: int, stdin: int = 0, stdout: int = 1) -> int:
    """Relay until ``pid`` exits; return its exit code."""
    os.set_blocking(master, False)
    with contextlib.suppress(OSError):
        _copy_size(stdin, master)
    code = 0
    async with anyio.create_task_group() as tg:
        tg.start_soon(_forward_signals, pid, master, stdin)
        tg.start_soon(_pump_in, master, stdin)
        tg.start_soon(_pump_out, master, stdout)
        code = await _wait_exit(pid)
        tg.cancel_scope.cancel()
    _drain(master, stdout)
    return code


def relay_blocking(master: int, pid: int) -> int:
    """Run the relay in a fresh event loop, with our terminal raw, signals held until ready."""
    import gc

    gc.enable()  # a session can last for hours: let the collector run again
    stdin = sys.stdin.fileno()
    with raw_terminal(stdin):
        return anyio.run(relay, master, pid, stdin, sys.stdout.fileno(), backend=backend())


def run_with_relay(store: object, container_id: str, opts: object, keep: bool) -> int:
    """``run`` with ``terminal: true`` in the foreground."""
    from ..state import Store
    from . import drive
    from .create import CreateOptions, create_with_console
    from .delete import delete
    from .start import start

    assert isinstance(store, Store) and isinstance(opts, CreateOptions)
    sc.set_subreaper()
    opts.relay_terminal = True
    st, master = drive(create_with_console(store, container_id, opts))
    try:
        with blocked_signals():
            try:
                drive(start(store, container_id))
            except BaseException:
                with contextlib.suppress(Exception):
                    drive(delete(store, container_id, force=True))
                raise
            assert master is not None
            return relay_blocking(master, st.pid)
    finally:
        if master is not None:
            os.close(master)
        if not keep:
            with contextlib.suppress(Exception):
                drive(delete(store, container_id, force=True))


def exec_with_relay(store: object, container_id: str, opts: object) -> int:
    """``exec -t`` in the foreground."""
    from ..state import Store
    from . import drive
    from .exec import ExecOptions, exec_with_console

    assert isinstance(store, Store) and isinstance(opts, ExecOptions)
    with blocked_signals():
        master, pid = drive(exec_with_console(store, container_id, opts))
        assert master is not None
        try:
            return relay_blocking(master, pid)
        finally:
            os.close(master)
