"""The fork server: a single-threaded helper that runs the synchronous ops.

Why it exists: the ops fork (the pre-exec child), and forking a process that
runs an event loop or threads is unsafe (Python 3.12+ warns).  The API process
therefore never forks; it spawns this helper with ``subprocess`` (fork+exec of
a fresh interpreter, which is safe) and sends it requests over a SEQPACKET
socket.  The helper has no threads and no event loop, so the ops' ``os.fork``
is the same one the CLI does.

It is also the child subreaper of everything it starts: a container's init
and an exec'd process are re-parented to it when their setup child exits, so
it reaps them and sends ``exit`` events with their status.  It never waits
for anything but a request or a child: each op runs to completion, then the
loop polls the socket and the pidfds of the children it tracks.

It exits when the API side closes the socket (``Runtime.aclose`` or the API
process dying); the containers it started keep running, as with ``runc``.
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import socket
import sys

from .. import _json as json
from .. import log
from .. import spec as S
from .._record import asdict
from ..errors import ConfigError
from ..kernel import syscalls as sc
from ..kernel.signals import exit_code, wait_pidfd
from ..ops import drive
from ..ops import pause as P
from ..ops.create import CreateOptions, create_with_console, write_pid_file
from ..ops.delete import delete
from ..ops.exec import ExecOptions, exec_with_console, process_from_flags
from ..ops.kill import kill
from ..ops.start import start
from ..ops.update import update
from ..state import Store
from . import _checkpoint
from . import _protocol as proto

# Kept out of this process: typing, argparse, tempfile (random), the stdlib json (re),
# anyio.  Every module loaded here is heap that each fork write-protects and each
# child and the server itself then fault on (see main: gc.freeze).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_STDIO = (0, 1, 2)


class ForkServer:
    """Request loop + reaper.  One instance per process."""

    def __init__(self, sock: socket.socket, store: Store, systemd_cgroup: bool) -> None:
        self.sock = sock
        self.store = store
        self.systemd_cgroup = systemd_cgroup
        self.poller = select.poll()
        self.poller.register(sock.fileno(), select.POLLIN)
        self.tracked: dict[int, int] = {}  # pid -> pidfd
        self.by_pidfd: dict[int, int] = {}  # pidfd -> pid
        # Our own stdio, restored after each op that lent 0-2 to a container.
        self.saved = [os.dup(fd) for fd in _STDIO]
        self.devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        _close_in_children(sock, [*self.saved, self.devnull])
        self.tmp = _private_dir()
        self.handlers: dict[str, Callable[[dict[str, Any], list[int]], tuple[dict[str, Any], list[int]]]] = {
            "create": self.op_create, "start": self.op_start, "exec": self.op_exec,
            "kill": self.op_kill, "delete": self.op_delete, "pause": self.op_pause,
            "resume": self.op_resume, "update": self.op_update, "ping": self.op_ping,
            "network_check": self.op_network_check, **_checkpoint.fork_server_ops(self),
        }

    # --- the loop -------------------------------------------------------------

    def serve(self) -> None:
        try:
            while True:
                # A 1 s tick reaps orphans we don't track (a daemonising exec'd process).
                ready = self.poller.poll(1000)
                if not ready:
                    gc.collect()  # idle: collection is off while we work (see main)
                self.reap([fd for fd, _ in ready if fd in self.by_pidfd])
                for fd, _ in ready:
                    if fd == self.sock.fileno() and not self.handle_request():
                        return
        except (BrokenPipeError, ConnectionResetError):
            return  # the Runtime closed while we were reporting: nobody to tell
        finally:
            with contextlib.suppress(OSError):
                os.rmdir(self.tmp)

    def handle_request(self) -> bool:
        msg, fds = proto.recv(self.sock)
        if msg is None:
            return False
        # Collect exits first: an op (delete) may reap a child and lose its status.
        self.reap()
        rid = msg.get("id")
        try:
            handler = self.handlers[msg["op"]]
            result, out_fds = handler(msg, fds)
        except BaseException as exc:  # every failure goes back to the caller
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            proto.send(self.sock, {"id": rid, "error": proto.encode_error(exc)})
        else:
            try:
                proto.send(self.sock, {"id": rid, "ok": result}, out_fds)
            finally:
                for fd in out_fds:
                    os.close(fd)
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        return True

    def track(self, pid: int) -> None:
        try:
            pidfd = _above_low_fds(os.pidfd_open(pid))
        except ProcessLookupError:
            self.send_exit(pid, None)
            return
        self.tracked[pid] = pidfd
        self.by_pidfd[pidfd] = pid
        self.poller.register(pidfd, select.POLLIN)

    def untrack(self, pid: int) -> None:
        pidfd = self.tracked.pop(pid)
        del self.by_pidfd[pidfd]
        self.poller.unregister(pidfd)
        os.close(pidfd)

    def send_exit(self, pid: int, status: int | None) -> None:
        proto.send(self.sock, {"type": "exit", "pid": pid, "status": status})

    def reap(self, readable: list[int] | None = None) -> None:
        """Reap every exited child; report the tracked ones.

        ``readable``: the tracked pidfds poll() found readable.  Only those can
        belong to a process reaped by an op (a forced delete) rather than here;
        looking at every tracked pidfd instead cost a syscall per live container
        on every request, twice: bring-up time grew with the number alive."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in self.tracked:
                self.untrack(pid)
                self.send_exit(pid, exit_code(status))
        # Tracked processes that exited but were reaped by an op (forced delete).
        # A readable pidfd only means "exited": it may have died just now.
        if readable:
            for pid in [self.by_pidfd[fd] for fd in readable
                        if fd in self.by_pidfd and _readable(fd)]:
                try:
                    got, status = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    got, status = -1, 0
                if got == 0:
                    continue
                self.untrack(pid)
                self.send_exit(pid, exit_code(status) if got == pid else None)

    # --- stdio lending --------------------------------------------------------

    @contextlib.contextmanager
    def stdio(self, mode: str, fds: list[int]) -> Any:
        """Put the container's stdio on our 0-2 for the duration of one op.

        The setup child inherits 0-2 (and closes everything else), so this is
        how a container gets its pipes; the loop is single-threaded, so no
        other op can see them.
        """
        if mode == "inherit":
            yield
            return
        src = [self.devnull] * 3 if mode == "null" else fds[:3]
        if len(src) != 3:
            raise ConfigError(f"stdio {mode!r} needs 3 file descriptors, got {len(src)}", "stdio")
        try:
            for s, d in zip(src, _STDIO, strict=True):
                os.dup2(s, d)
            yield
        finally:
            for s, d in zip(self.saved, _STDIO, strict=True):
                os.dup2(s, d)

    # --- ops ------------------------------------------------------------------

    def op_ping(self, req: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        return {"pid": os.getpid()}, []

    def op_create(self, req: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        cid = req["cid"]
        console = bool(req.get("console"))
        opts = CreateOptions(bundle=req["bundle"], pid_file=req.get("pid_file"),
                             systemd_cgroup=self.systemd_cgroup, relay_terminal=console,
                             network=_network_request(req.get("network")))
        with self.stdio(req.get("stdio", "inherit"), fds):
            st, master = drive(create_with_console(self.store, cid, opts))
        self.track(st.pid)
        if console and master is None:
            drive(delete(self.store, cid, force=True))
            raise ConfigError("console=True needs process.terminal: true in config.json",
                              "$.process.terminal")
        if not console and master is not None:
            os.close(master)
            master = None
        if req.get("start"):
            try:
                st = drive(start(self.store, cid))
            except BaseException:
                if master is not None:
                    os.close(master)
                with contextlib.suppress(Exception):
                    drive(delete(self.store, cid, force=True))
                raise
        # The saved config stays on disk: the API's handle needs id, pid, network.
        return {"state": {**asdict(st), "config": {}}}, [master] if master is not None else []

    def op_start(self, req: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        drive(start(self.store, req["cid"]))
        return {}, []

    def op_exec(self, req: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        cid = req["cid"]
        st = self.store.load(cid)
        if req.get("process") is not None:
            proc = S.decode(json.dumps(req["process"]).encode(), S.Process, "process")
        else:
            proc = process_from_flags(st, list(req.get("args") or []), env=list(req.get("env") or []),
                                      cwd=req.get("cwd"), user=req.get("user"),
                                      additional_gids=[], caps=[], no_new_privs=False,
                                      tty=bool(req.get("tty")))
        # exec_with_console does not return the pid of a detached process;
        # its --pid-file is how we learn it (see the report: a change to ops/exec).
        pid_file = os.path.join(self.tmp, "exec.pid")
        opts = ExecOptions(process=proc, detach=True, pid_file=pid_file,
                           relay_terminal=bool(proc.terminal), ignore_paused=bool(req.get("ignore_paused")))
        with self.stdio(req.get("stdio", "inherit"), fds):
            master, _ = drive(exec_with_console(self.store, cid, opts))
        with open(pid_file) as f:
            pid = int(f.read())
        os.unlink(pid_file)
        self.track(pid)
        if req.get("pid_file"):
            write_pid_file(req["pid_file"], pid)
        return {"pid": pid}, [master] if master is not None else []

    def op_kill(self, req: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        drive(kill(self.store, req["cid"], int(req["signal"]), bool(req.get("all"))))
        return {}, []

    def op_delete(self, req: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        drive(delete(self.store, req["cid"], force=bool(req.get("force"))))
        return {}, []

    def op_network_check(self, req: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        from ..ops.network import check

        with self.store.lock(req["cid"]):
            check(self.store, req["cid"])
        return {}, []

    def op_pause(self, req: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        drive(P.pause(self.store, req["cid"]))
        return {}, []

    def op_resume(self, req: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        drive(P.resume(self.store, req["cid"]))
        return {}, []

    def op_update(self, req: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        resources = S.decode(json.dumps(req["resources"]).encode(), S.LinuxResources, "resources")
        drive(update(self.store, req["cid"], resources))
        return {}, []


def _close_in_children(sock: socket.socket, fds: list[int]) -> None:
    """Close our socket (and our private fds) in every child we fork.

    They are close-on-exec, but a created container's init does not exec
    until ``start``: until then it held our end of the socket open, so if we
    died the Runtime never saw EOF and every pending call hung.  Only our
    direct children close them: the flag is cleared in the child, so what a
    child forks later (a hook, the init forked by a setup child) leaves
    alone fds that by then may be something else."""
    todo: list[Any] = [sock, fds]

    def after_in_child() -> None:
        if todo:
            s, others = todo
            todo.clear()
            with contextlib.suppress(OSError):
                os.close(s.detach())
            for fd in others:
                with contextlib.suppress(OSError):
                    os.close(fd)

    os.register_at_fork(after_in_child=after_in_child)


# Fds below this stay free for the ops and the children they fork: a
# container's init inherits our fds until it execs, and once it has taken the
# container's RLIMIT_NOFILE (often 1024) it can't open a new one if every
# number below the limit is taken by a pidfd of ours.
_LOW_FDS = 1024


def _raise_nofile() -> None:
    """Soft RLIMIT_NOFILE up to the hard one: each tracked container costs us a
    pidfd (the fds the children inherit are theirs to limit, see above)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _above_low_fds(fd: int) -> int:
    """``fd`` renumbered at or above _LOW_FDS (unchanged if the limit is too low)."""
    if fd >= _LOW_FDS:
        return fd
    import fcntl

    try:
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _LOW_FDS)
    except OSError:  # EINVAL/EMFILE: no room up there
        return fd
    os.close(fd)
    return high


def _network_request(net: dict[str, Any] | None) -> Any:
    if net is None:
        return None
    from ..net.request import NetworkRequest, parse_publish

    return NetworkRequest(name=net["name"], publish=[parse_publish(p) for p in net["publish"]],
                          ip=net.get("ip"), conf_dir=net.get("conf_dir") or "",
                          cni_path=net.get("cni_path") or "")


def _readable(fd: int) -> bool:
    return wait_pidfd(fd, 0)


def _preload() -> None:
    """Import what the pre-exec child needs now, so no child imports after forking
    (and so the first container is as fast as the hundredth)."""
    from ..kernel import capabilities, cgroups, preexec, rootfs, seccomp, waiter  # noqa: F401
    from ..kernel.cgroups import mountfs  # noqa: F401  (the "cgroup" mount of most configs)

    waiter.errno_table()  # the same in every waiting init: built once, inherited
    capabilities.last_cap()  # probed by 41 prctl calls: once, not in every init

    # The host's cgroup driver too: the first create of each fork server paid
    # for importing it (and devrules), while it held up the others queued on it.
    try:
        host = cgroups.detect()
    except Exception:  # no cgroups mounted: create will say so
        return
    from ..kernel.cgroups.paths import cache_hierarchies

    cache_hierarchies()
    if host == "v2":
        from ..kernel.cgroups import v2, v2_resources  # noqa: F401
    else:
        from ..kernel.cgroups import devrules, v1, v1_resources  # noqa: F401


def _private_dir() -> str:
    """A new 0700 directory under $TMPDIR or /tmp (tempfile.mkdtemp without importing
    tempfile, which imports random: an at-fork reseed in every child)."""
    base = os.environ.get("TMPDIR") or "/tmp"
    while True:
        path = os.path.join(base, f"runcgo-fs-{os.getpid()}-{os.urandom(4).hex()}")
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return path


def _parse_args(argv: list[str]) -> tuple[int, str, bool, str | None]:
    """``--fd N --root DIR [--systemd-cgroup] [--log FILE]``: what _runtime.py passes
    (argparse is not loaded here: see TYPE_CHECKING above)."""
    fd, root, systemd, logfile = -1, "", False, None
    it = iter(argv)
    for arg in it:
        if arg == "--systemd-cgroup":
            systemd = True
            continue
        value = next(it, None)
        if value is None or arg not in ("--fd", "--root", "--log"):
            raise SystemExit(f"runcgo-forkserver: bad argument {arg!r}")
        if arg == "--fd":
            if not value.isdigit():
                raise SystemExit(f"runcgo-forkserver: --fd {value!r} is not a number")
            fd = int(value)
        elif arg == "--root":
            root = value
        else:
            logfile = value
    if fd < 0 or not root:
        raise SystemExit("runcgo-forkserver: --fd and --root are required")
    return fd, root, systemd, logfile


def main(argv: list[str] | None = None) -> None:
    fd, root, systemd_cgroup, logfile = _parse_args(sys.argv[1:] if argv is None else argv)
    sock = socket.socket(fileno=fd)
    os.set_inheritable(fd, False)
    if logfile:
        log.configure(logfile)
    sc.set_subreaper()
    _raise_nofile()
    _preload()
    # Everything long-lived is loaded now: move it out of the collector's reach (a
    # collection in a forked child would touch, and so copy, every page), and collect
    # only when idle (serve()), never in the middle of a create.
    gc.freeze()
    gc.disable()
    server = ForkServer(sock, Store(root), systemd_cgroup)
    proto.send(sock, {"type": "hello", "pid": os.getpid()})
    server.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
