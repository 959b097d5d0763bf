"""Runtime, Container, ExecProcess: the async API over the fork servers.

The event-loop process never forks.  Everything that forks or may block on a
lock (create, start, exec, kill, delete, pause, resume, update) is a request to
one of a few fork servers (``_forkserver.py``), spawned once per Runtime; each
request is a small round trip on a unix socket that the loop waits on with
``anyio.wait_readable``.  Reads that neither fork nor lock (state, list,
events) run here directly.

A container's exit status comes from the fork server that created it (it is
the subreaper, so it reaps the init) as an ``exit`` message; ``wait`` just
waits for that message, so cancelling ``wait`` never touches the container.
"""

from __future__ import annotations

import contextlib
import os
import signal as _signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import anyio
import anyio.abc
import anyio.lowlevel

from ..errors import InvalidArgument, RuncgoError
from ..state import DEFAULT_ROOT, ContainerState, Store
from . import _checkpoint
from . import _protocol as proto
from ._streams import FdReceiveStream, FdSendStream

Stdio = Literal["inherit", "pipe", "null"]


@dataclass
class Event:
    """One container event: ``exit`` (data: ``{"status": int | None}``), ``oom``,
    or ``stats`` (data: runc's ``events --stats`` shape)."""

    type: str
    id: str
    data: dict[str, Any] = field(default_factory=dict)


class _ExitSlot:
    """Where the reader task drops the exit status of one process."""

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.status: int | None = None
        self.lost = False  # the fork server died: fall back to a pidfd


class _ForkServerClient:
    """One fork server: its process, socket, pending requests."""

    def __init__(self, runtime: Runtime, proc: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.runtime = runtime
        self.proc = proc
        self.sock = sock
        self.pending: dict[int, tuple[anyio.Event, list[Any]]] = {}
        self.slots: dict[int, _ExitSlot] = {}
        self.next_id = 0
        self.alive = True
        self.send_lock = anyio.Lock()

    @property
    def load(self) -> int:
        return len(self.pending)

    async def call(self, op: str, fds: Sequence[int] = (), **args: Any) -> tuple[dict[str, Any], list[int]]:
        """One request/reply.  Shielded: an op that was sent always completes and
        its reply is always consumed, so the protocol can't get out of step; the
        caller decides what to undo if it was cancelled meanwhile."""
        with anyio.CancelScope(shield=True):
            if not self.alive:
                raise RuncgoError("runcgo fork server is gone (Runtime closed?)")
            self.next_id += 1
            rid = self.next_id
            done = anyio.Event()
            box: list[Any] = []
            self.pending[rid] = (done, box)
            try:
                await self._send({"id": rid, "op": op, **args}, list(fds))
                await done.wait()
            finally:
                self.pending.pop(rid, None)
        reply, out_fds = box[0]
        if "error" in reply:
            raise proto.decode_error(reply["error"])
        result: dict[str, Any] = reply["ok"]
        return result, out_fds

    async def _send(self, msg: dict[str, Any], fds: list[int]) -> None:
        # One writer waits on the socket at a time (anyio allows one waiter per fd).
        async with self.send_lock:
            while True:
                try:
                    proto.send(self.sock, msg, fds)
                    return
                except BlockingIOError:
                    await anyio.wait_writable(self.sock)

    async def reader(self) -> None:
        """Dispatch replies and exit events until the fork server goes away."""
        try:
            while True:
                await anyio.wait_readable(self.sock)
                # Everything queued, then wait again: under load one wake-up
                # (and one epoll registration) serves many messages.
                while self._dispatch_one():
                    pass
        except (_Closed, OSError, anyio.ClosedResourceError):
            pass
        finally:
            self.alive = False
            for done, box in self.pending.values():
                box.append(({"error": {"class": "RuncgoError",
                                       "message": "runcgo fork server exited"}}, []))
                done.set()
            for slot in self.slots.values():
                slot.lost = True
                slot.event.set()
            self.slots.clear()

    def _dispatch_one(self) -> bool:
        """Hand one queued message to its waiter; False when none is queued.
        Raises _Closed when the fork server has gone."""
        try:
            msg, fds = proto.recv(self.sock)
        except BlockingIOError:
            return False
        if msg is None:
            raise _Closed
        if msg.get("type") == "exit":
            slot = self.slots.pop(int(msg["pid"]), None)
            if slot is not None:
                slot.status = msg["status"]
                slot.event.set()
            return True
        waiter = self.pending.get(msg.get("id", -1))
        if waiter is None:
            for fd in fds:
                os.close(fd)
            return True
        ok = msg.get("ok")
        if ok is not None:
            # Register the exit slot now, before any later exit message.
            pid = ok.get("pid") or (ok.get("state") or {}).get("pid")
            if pid:
                slot = self.slots[int(pid)] = _ExitSlot()
                ok["_slot"] = slot
        waiter[1].append((msg, fds))
        waiter[0].set()
        return True


class _Closed(Exception):
    """The fork server closed its socket."""


def _stdio_fds(mode: str) -> tuple[list[int], list[int]]:
    """(ends for the container, our ends [stdin-w, stdout-r, stderr-r]) for ``pipe``."""
    if mode not in ("inherit", "pipe", "null"):
        raise ValueError(f"stdio must be 'inherit', 'pipe' or 'null', not {mode!r}")
    if mode != "pipe":
        return [], []
    made: list[int] = []
    try:
        for _ in range(3):
            made += os.pipe()
    except OSError as exc:
        for fd in made:
            os.close(fd)
        raise _fd_error(exc) from None
    in_r, in_w, out_r, out_w, err_r, err_w = made
    return [in_r, out_w, err_w], [in_w, out_r, err_r]


def _fd_error(exc: OSError) -> BaseException:
    """EMFILE/ENFILE for a container's pipes, said in one line with the limit."""
    import errno
    import resource

    if exc.errno == errno.EMFILE:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        return RuncgoError(f"stdio pipes: too many open files (RLIMIT_NOFILE {soft}, hard limit "
                           f"{hard}: close streams of finished containers, or raise the limit)")
    if exc.errno == errno.ENFILE:
        return RuncgoError("stdio pipes: too many open files in system (fs.file-max)")
    return exc


def _raise_nofile() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit, as Go programs (runc, containerd)
    do at start: three pipes per container with ``stdio="pipe"`` and a pidfd per
    waiter pass the common soft limit of 1024 long before a thousand
    containers.  Never lowered; an unprivileged hard limit is left as it is."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _with_pipes(
    mode: str,
    call: Callable[[list[int], str], Awaitable[tuple[dict[str, Any], list[int]]]],
) -> tuple[dict[str, Any], list[int], list[int]]:
    """Make the pipes ``mode`` asks for and hand the container its ends through
    ``call(fds, stdio_mode)``; our ends are kept only if the call succeeded."""
    theirs, ours = _stdio_fds(mode)
    try:
        result, fds = await call(theirs, "fds" if theirs else mode)
    except BaseException:
        for fd in ours:
            os.close(fd)
        raise
    finally:
        for fd in theirs:
            os.close(fd)
    return result, fds, ours


class _Stdio:
    """The streams of a container or an exec'd process (None when not piped)."""

    stdin: anyio.abc.ByteSendStream | None
    stdout: anyio.abc.ByteReceiveStream | None
    stderr: anyio.abc.ByteReceiveStream | None

    def _set_streams(self, ours: list[int], master: int | None) -> None:
        self.stdin = self.stdout = self.stderr = None
        if master is not None:
            self.stdout = FdReceiveStream(master)
            self.stdin = FdSendStream(os.dup(master))
        elif ours:
            self.stdin = FdSendStream(ours[0])
            self.stdout = FdReceiveStream(ours[1])
            self.stderr = FdReceiveStream(ours[2])

    async def aclose_stdio(self) -> None:
        """Close our ends of the streams (a task reading them gets ClosedResourceError)."""
        for s in (self.stdin, self.stdout, self.stderr):
            if s is not None:
                await s.aclose()


async def _wait_pidfd(pid: int) -> None:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        await anyio.wait_readable(pidfd)
    finally:
        anyio.notify_closing(pidfd)
        os.close(pidfd)


def _forkserver_command() -> list[str]:
    """This interpreter in isolated mode without ``site`` (-I -S), on this process's
    sys.path: what a fork server imports is runcgo and, for networking, what this
    process can import; ``site`` and the installers' path hooks (editable finders,
    _distutils_hack) would cost start-up time and heap that every fork copies."""
    pkg_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = [pkg_parent, *(p for p in sys.path if p and p != pkg_parent)]
    code = (f"import sys; sys.path[:] = {path!r}; "
            "from runcgo.api._forkserver import main; main()")
    return [sys.executable, "-I", "-S", "-c", code]


class Runtime:
    """A state root plus the fork servers that act on it.

    Containers share state with the CLI: ``runcgo --root ROOT list`` sees the
    containers made here and :meth:`get` can attach to the CLI's.  Closing the
    Runtime stops its fork servers; containers keep running (use :meth:`run`
    for containers that must not outlive a block).
    """

    def __init__(self, root: str | None = None, systemd_cgroup: bool = False,
                 log: str | None = None, *, workers: int | None = None,
                 cni_conf_dir: str | None = None, cni_path: str | None = None) -> None:
        # The CLI's default --root: /run/runcgo, or $XDG_RUNTIME_DIR/runcgo for an
        # unprivileged user (made 01700 on entry, as the CLI does).
        self._xdg_root = False
        if root is None:
            from ..kernel.rootless import default_root

            root, self._xdg_root = default_root(DEFAULT_ROOT)
        self.root = os.path.abspath(root)
        # Where CNI networks and plugins are (default: $NETCONFPATH or
        # /etc/cni/net.d, $CNI_PATH or /usr/lib/cni:/opt/cni/bin), as the CLI's
        # --cni-conf-dir / --cni-path.
        self.cni_conf_dir = cni_conf_dir
        self.cni_path = cni_path
        self.systemd_cgroup = systemd_cgroup
        self.log = log
        # The fork servers mostly wait for their pre-exec children, so more of
        # them than CPUs keeps the CPUs busy; one more serves the quick ops
        # (start, kill, delete...) so they never queue behind a create.
        self.workers = workers or min(8, max(4, 2 * (os.cpu_count() or 1)))
        self._store = Store(self.root)
        self._clients: list[_ForkServerClient] = []
        self._stack: contextlib.AsyncExitStack | None = None
        self._rr = 0

    async def __aenter__(self) -> Runtime:
        _raise_nofile()
        if self._xdg_root:
            from ..kernel.rootless import make_xdg_root

            try:
                make_xdg_root(self.root)
            except OSError as exc:
                raise InvalidArgument(
                    f"mkdir {self.root}: {os.strerror(exc.errno or 0).lower()} (the path in "
                    "$XDG_RUNTIME_DIR must be writable by the user)") from None
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.push_async_callback(self._stop_servers)
            async with anyio.create_task_group() as spawn:
                for _ in range(self.workers + 1):
                    spawn.start_soon(self._spawn, tg)
        except BaseException:
            await stack.__aexit__(*sys.exc_info())
            raise
        self._stack = stack
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> bool | None:
        await self.aclose()
        return None

    async def aclose(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def _spawn(self, tg: anyio.abc.TaskGroup) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cmd = [*_forkserver_command(), "--fd", str(theirs.fileno()), "--root", self.root]
        if self.systemd_cgroup:
            cmd.append("--systemd-cgroup")
        if self.log:
            cmd += ["--log", self.log]
        try:
            # fork+exec of a fresh interpreter in C (_posixsubprocess): no Python
            # code runs in the forked copy of this multi-threaded process.
            proc = subprocess.Popen(cmd, pass_fds=[theirs.fileno()], close_fds=True)
        finally:
            theirs.close()
        ours.setblocking(False)
        client = _ForkServerClient(self, proc, ours)
        self._clients.append(client)
        with anyio.fail_after(60):
            await anyio.wait_readable(ours)
        msg, _ = proto.recv(ours)
        if msg is None or msg.get("type") != "hello":
            raise RuncgoError("runcgo fork server failed to start")
        tg.start_soon(client.reader)

    async def _stop_servers(self) -> None:
        with anyio.CancelScope(shield=True):
            for c in self._clients:
                with contextlib.suppress(OSError):
                    c.sock.shutdown(socket.SHUT_RDWR)
            for c in self._clients:
                await _wait_pidfd(c.proc.pid)
                c.proc.wait()
                anyio.notify_closing(c.sock)
                c.sock.close()
            self._clients.clear()

    def _client(self, quick: bool = False) -> _ForkServerClient:
        """The fork server for an op: the control one for quick ops, else the
        least busy of the others."""
        if self._stack is None or not self._clients:
            raise RuncgoError("Runtime is not open: use `async with Runtime(...) as runtime`")
        if quick and self._clients[0].alive:
            return self._clients[0]
        pool = self._clients[1:] or self._clients
        live = [c for c in pool if c.alive] or pool
        self._rr += 1
        return min(live, key=lambda c: (c.load, (live.index(c) - self._rr) % len(live)))

    # --- containers -----------------------------------------------------------

    async def create(self, container_id: str, bundle: str | os.PathLike[str], *,
                     console: bool = False, pid_file: str | None = None,
                     stdio: Stdio = "inherit", network: str | None = None,
                     publish: Sequence[str] = (), ip: str | None = None) -> Container:
        """Create a container (its init waits for :meth:`Container.start`).

        ``stdio="pipe"`` gives the container fresh pipes (``.stdin``, ``.stdout``,
        ``.stderr``); ``console=True`` (with ``process.terminal`` in the config)
        gives the pty master as ``.stdout``/``.stdin``.

        ``network="runcgo0"`` attaches it to that CNI network before its process
        starts (``publish=["8080:80/tcp"]``, ``ip="10.88.0.9"`` as the CLI's
        ``--publish`` / ``--ip``); its addresses are then on ``.ips``.
        """
        return await self._create(container_id, bundle, console, pid_file, stdio, network,
                                  publish, ip, start=False)

    async def _create(self, container_id: str, bundle: str | os.PathLike[str], console: bool,
                      pid_file: str | None, stdio: Stdio, network: str | None,
                      publish: Sequence[str], ip: str | None, *, start: bool) -> Container:
        """create, and with ``start`` also start in the same request (run(): one
        round trip less; a failed start deletes the container there)."""
        net = None
        if network is not None:
            net = {"name": network, "publish": list(publish), "ip": ip,
                   "conf_dir": self.cni_conf_dir, "cni_path": self.cni_path}
        elif publish or ip:
            raise ValueError("publish= and ip= need network=")
        client = self._client()
        result, fds, ours = await _with_pipes(
            "null" if console else stdio,
            lambda theirs, mode: client.call(
                "create", theirs, cid=container_id, bundle=os.path.abspath(bundle),
                console=console, pid_file=pid_file and os.path.abspath(pid_file), stdio=mode,
                network=net, start=start))
        return await self._adopt(result, fds, ours)

    async def _adopt(self, result: dict[str, Any], fds: list[int], ours: list[int]) -> Container:
        """The handle on a container a fork server made (create, restore): its state,
        exit slot, our stdio ends and pty master.  If we were cancelled meanwhile,
        the container is discarded, so none is left that nobody holds."""
        st = ContainerState(**result["state"])
        c = Container(self, st.id, st.pid, result.get("_slot"), ours, fds[0] if fds else None,
                      st.network)
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await c._discard()
            raise
        return c

    @contextlib.asynccontextmanager
    async def run(self, container_id: str, bundle: str | os.PathLike[str], *,
                  console: bool = False, pid_file: str | None = None,
                  stdio: Stdio = "inherit", network: str | None = None,
                  publish: Sequence[str] = (), ip: str | None = None) -> AsyncIterator[Container]:
        """Create and start; on leaving the block (normally, by an error or by
        cancellation) the container is killed and deleted (and, with a
        ``network``, detached from it)."""
        c = await self._create(container_id, bundle, console, pid_file, stdio, network,
                               publish, ip, start=True)
        try:
            yield c
        finally:
            with anyio.CancelScope(shield=True):
                await c._discard()

    restore = _checkpoint.restore

    async def get(self, container_id: str) -> Container:
        """A handle on an existing container (made by the CLI, or another Runtime).

        Its exit status is not ours to know: :meth:`Container.wait` returns None.
        """
        st = self._store.load(container_id)
        await anyio.lowlevel.checkpoint()
        return Container(self, st.id, st.pid, None, [], None, st.network)

    async def list(self) -> list[ContainerState]:
        """Every container under the root, with its live status (like ``runcgo list``)."""
        from ..ops import drive
        from ..ops.query import list_containers

        out = drive(list_containers(self._store))
        await anyio.lowlevel.checkpoint()
        return out


class Container(_Stdio):
    """A container handle.  Methods map one-to-one to the CLI commands."""

    def __init__(self, runtime: Runtime, container_id: str, pid: int, slot: _ExitSlot | None,
                 ours: list[int], master: int | None,
                 network: dict[str, Any] | None = None) -> None:
        self.runtime = runtime
        self.id = container_id
        self.pid = pid
        self._slot = slot
        self._set_streams(ours, master)
        # The CNI attachment as ``state`` shows it: name, interface, addresses, ports.
        self.network: dict[str, Any] = network or {}

    @property
    def ips(self) -> list[str]:
        """The container's addresses on its CNI network, without prefix length."""
        return [a.split("/", 1)[0] for a in self.network.get("addresses") or ()]

    def __repr__(self) -> str:
        return f"<Container {self.id} pid={self.pid}>"

    async def _call(self, op: str, fds: Sequence[int] = (), **args: Any) -> tuple[dict[str, Any], list[int]]:
        client = self.runtime._client(quick=op != "exec")
        return await client.call(op, fds, cid=self.id, **args)

    async def start(self) -> None:
        await self._call("start")

    async def wait(self) -> int | None:
        """The init's exit code (128+N for signal N); cancelling only stops waiting.

        None when this Runtime did not create the container (no one tells us).
        """
        return await _wait(self._slot, self.pid)

    async def kill(self, signal: int = _signal.SIGTERM, all: bool = False) -> None:
        await self._call("kill", signal=int(signal), all=all)

    async def delete(self, force: bool = False) -> None:
        await self._call("delete", force=force)

    async def check_network(self) -> None:
        """CNI CHECK of the container's network; raises the plugin's error if
        something the plugins set up is missing or wrong."""
        await self._call("network_check")

    checkpoint = _checkpoint.checkpoint

    async def pause(self) -> None:
        await self._call("pause")

    async def resume(self) -> None:
        await self._call("resume")

    async def update(self, resources: Any) -> None:
        """New limits: an OCI ``LinuxResources`` (runcgo.spec) or its JSON dict."""
        if not isinstance(resources, dict):
            from .._struct import to_builtins

            resources = to_builtins(resources)
        await self._call("update", resources=resources)

    async def state(self) -> ContainerState:
        st = self.runtime._store.load(self.id)
        await anyio.lowlevel.checkpoint()
        return st

    async def exec(self, process: Sequence[str] | dict[str, Any] | Any, *,
                   env: Sequence[str] = (), cwd: str | None = None, user: str | None = None,
                   tty: bool = False, stdio: Stdio = "pipe", pid_file: str | None = None,
                   ignore_paused: bool = False) -> ExecProcess:
        """Run a process in the container: ``["ls", "-l"]`` (inheriting the
        container's process config, like ``runcgo exec``) or a full OCI process
        (``runcgo.spec.Process`` or its JSON dict, like ``exec --process``)."""
        args: dict[str, Any] = {"ignore_paused": ignore_paused,
                                "pid_file": pid_file and os.path.abspath(pid_file)}
        if isinstance(process, dict):
            args["process"] = process
        elif isinstance(process, list | tuple):
            args.update(args=list(process), env=list(env), cwd=cwd, user=user, tty=tty)
        else:
            from .._struct import to_builtins

            args["process"] = to_builtins(process)
        result, fds, ours = await _with_pipes(
            stdio, lambda theirs, mode: self._call("exec", theirs, stdio=mode, **args))
        return ExecProcess(self, int(result["pid"]), result.get("_slot"), ours,
                           fds[0] if fds else None)

    def events(self, *, interval: float = 5.0, stats: bool = True) -> EventStream:
        """Exit, OOM and (every ``interval`` s) stats events until the container stops.

        The OOM watch is registered now, so create + events() + start misses nothing.
        """
        return EventStream(self, interval, stats)

    async def _discard(self) -> None:
        """Kill + delete + close our streams, whatever state it is in."""
        from ..errors import ContainerNotFound

        with contextlib.suppress(ContainerNotFound):
            await self.delete(force=True)
        await self.aclose_stdio()

    async def aclose(self) -> None:
        await self.aclose_stdio()


async def _wait(slot: _ExitSlot | None, pid: int) -> int | None:
    if slot is not None:
        await slot.event.wait()
        if not slot.lost:
            # None: reaped by a forced delete, which kills with SIGKILL.
            return slot.status if slot.status is not None else 128 + _signal.SIGKILL
    await _wait_pidfd(pid)
    return None


class ExecProcess(_Stdio):
    """A process started by :meth:`Container.exec`."""

    def __init__(self, container: Container, pid: int, slot: _ExitSlot | None,
                 ours: list[int], master: int | None) -> None:
        self.container = container
        self.pid = pid
        self._slot = slot
        self._set_streams(ours, master)

    def __repr__(self) -> str:
        return f"<ExecProcess pid={self.pid} in {self.container.id}>"

    async def wait(self) -> int | None:
        """Exit code (128+N for signal N); cancelling only stops waiting."""
        return await _wait(self._slot, self.pid)

    async def kill(self, signal: int = _signal.SIGTERM) -> None:
        """Signal it through a pidfd (never a recycled pid); no-op once it has exited."""

        await anyio.lowlevel.checkpoint()
        if self._slot is not None and self._slot.event.is_set():
            return
        try:
            pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            return
        try:
            if self._slot is None or not self._slot.event.is_set():
                with contextlib.suppress(ProcessLookupError):
                    _signal.pidfd_send_signal(pidfd, int(signal))
        finally:
            os.close(pidfd)

    async def aclose(self) -> None:
        await self.aclose_stdio()


class EventStream:
    """``async for event in container.events()``; also an async context manager."""

    def __init__(self, container: Container, interval: float, stats: bool) -> None:
        from ..kernel.cgroups import from_state
        from ..kernel.cgroups.oom import watch

        if interval <= 0:
            raise ValueError("interval must be greater than 0")
        self.container = container
        self.interval = interval
        self.stats = stats
        st = container.runtime._store.load(container.id)
        self._mgr = from_state(st.cgroup)
        self._watcher = watch(self._mgr.memory_dir())
        self._next_tick = 0.0
        self._done = False
        self._queue: list[Event] = []

    def __aiter__(self) -> EventStream:
        return self

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._watcher is not None:
            anyio.notify_closing(self._watcher.fileno())
            self._watcher.close()
            self._watcher = None
        self._done = True
        await anyio.lowlevel.checkpoint()

    async def __anext__(self) -> Event:
        cid = self.container.id
        while not self._queue:
            if self._done:
                await self.aclose()
                raise StopAsyncIteration
            now = anyio.current_time()
            if self.stats and now >= self._next_tick:
                self._next_tick = now + self.interval
                with contextlib.suppress(OSError):
                    self._queue.append(Event("stats", cid, self._mgr.stats()))
                continue
            exited: list[int | None] = []
            timeout = self._next_tick - now if self.stats else float("inf")
            with anyio.move_on_after(timeout):
                async with anyio.create_task_group() as tg:
                    async def on_exit(out: list[int | None] = exited) -> None:
                        out.append(await self.container.wait())
                        tg.cancel_scope.cancel()

                    async def on_oom(fd: int) -> None:
                        await anyio.wait_readable(fd)
                        tg.cancel_scope.cancel()

                    tg.start_soon(on_exit)
                    if self._watcher is not None:
                        tg.start_soon(on_oom, self._watcher.fileno())
            if self._watcher is not None:
                for _ in range(self._watcher.check()):
                    self._queue.append(Event("oom", cid))
            if exited:
                self._queue.append(Event("exit", cid, {"status": exited[0]}))
                self._done = True
        return self._queue.pop(0)
