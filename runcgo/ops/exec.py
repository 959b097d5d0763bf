"""``exec``: run a new process inside a running container.

A setup child, forked like create's, enters the container's cgroup (born
there and joining by itself when the driver allows, else moved by us),
joins its namespaces with setns (user first), forks once more to enter the
PID namespace, takes the process's own security context and execs.  No
nsenter, no shell.  Detached (``-d``) it outlives us; in the foreground we
forward signals and return its exit status.
"""

from __future__ import annotations

import os

from .. import log
from .. import spec as S
from .._record import record
from .._struct import replace
from ..errors import ConfigError, ContainerNotRunning, InvalidState, SetupError
from ..kernel import capabilities, cgroups, lsm, preexec, seccomp, signals, sync
from ..kernel import syscalls as sc
from ..kernel.cgroups import selfjoin
from ..state import ContainerState, Store, proc_start_time
from .create import hand_over_console, kill_children, released, write_pid_file

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


@record
class ExecOptions:
    process: S.Process
    detach: bool = False
    pid_file: str | None = None
    console_socket: str | None = None
    preserve_fds: int = 0
    ignore_paused: bool = False
    relay_terminal: bool = False
    # exec --cgroup: controller ("" for all) -> path below the container's cgroup
    sub_cgroups: dict[str, str] | None = None


def base_process(st: ContainerState) -> S.Process:
    """The container's own process config: the defaults an exec inherits."""
    raw = st.config.get("process") or {}
    proc: S.Process = S.convert(raw, S.Process, "$.process")
    return proc


def process_from_flags(st: ContainerState, args: list[str], *, env: list[str], cwd: str | None,
                       user: str | None, additional_gids: list[int], caps: list[str],
                       no_new_privs: bool, tty: bool) -> S.Process:
    """runc's exec flags on top of the container's process config."""
    base = base_process(st)
    if not args:
        raise ConfigError("exec needs a command (or --process FILE)", "args")
    merged: dict[str, str] = {}
    for item in [*(base.env or []), *env]:
        k, _, v = item.partition("=")
        merged[k] = v
    u = replace(base.user)
    if user:
        uid, _, gid = user.partition(":")
        try:
            u.uid = int(uid)
            if gid:
                u.gid = int(gid)
        except ValueError:
            raise ConfigError(f"--user {user!r}: want uid[:gid] as numbers", "--user") from None
    if additional_gids:
        u.additional_gids = additional_gids
    c = base.capabilities
    if caps:
        c = replace(c) if c else S.LinuxCapabilities()
        for name in ("bounding", "effective", "permitted"):
            setattr(c, name, sorted({*(getattr(c, name) or []), *caps}))
    return replace(
        base, args=args, env=[f"{k}={v}" for k, v in merged.items()], cwd=cwd or base.cwd,
        user=u, capabilities=c, terminal=tty,
        no_new_privileges=base.no_new_privileges or no_new_privs, console_size=None)


def parse_sub_cgroups(args: list[str]) -> dict[str, str]:
    """runc's ``--cgroup`` values: ``PATH`` (every hierarchy; then the only one
    allowed) or ``CTRL[,CTRL...]:PATH``, repeatable, the last one for a
    controller winning."""
    paths: dict[str, str] = {}
    for arg in args:
        parts = arg.split(":")
        if len(parts) > 2:
            raise ConfigError(f"invalid --cgroup argument: {arg}", "--cgroup")
        if len(parts) == 1:
            if len(args) != 1:
                raise ConfigError(f"invalid --cgroup argument: {arg} (missing <controller>: "
                                  "prefix)", "--cgroup")
            paths[""] = arg
            continue
        for ctrl in parts[0].split(","):
            paths[ctrl] = parts[1]
    return paths


def load_process_file(path: str) -> S.Process:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", "--process") from None
    proc: S.Process = S.decode(data, S.Process, path)
    return proc


def check_process(proc: S.Process, opts: ExecOptions) -> list[Callable[[], None]]:
    """Everything about the process itself that can be refused before a fork (the
    fuzz tests call this as exec does); returns the scheduler/personality/... steps."""
    S.validate_process(proc, "$")
    if proc.terminal and not opts.console_socket and not opts.relay_terminal:
        raise ConfigError("a terminal needs --console-socket when detached", "$.terminal")
    for warning in capabilities.check(proc.capabilities):
        log.warning(warning)
    lsm.check(proc.apparmor_profile, proc.selinux_label, "$")
    from .create import procattr_steps

    return procattr_steps(S.Spec(oci_version="1.3.0", process=proc))


async def exec_process(store: Store, container_id: str, opts: ExecOptions) -> int:
    """Returns the process's exit code (0 when detached)."""
    fd, code = await exec_with_console(store, container_id, opts)
    if fd is not None:
        os.close(fd)
    return 0 if opts.detach else code


async def exec_with_console(store: Store, container_id: str,
                            opts: ExecOptions) -> tuple[int | None, int]:
    """(pty master or None, n): n is the exit code in the foreground, the pid when
    detached or when the caller relays the terminal itself."""
    st = store.load(container_id)
    if st.status == "stopped":
        raise ContainerNotRunning(container_id)
    if st.status == "paused" and not opts.ignore_paused:
        # runc's wording and exit status (255, like its other exec failures).
        paused = InvalidState("cannot exec in a paused container (use --ignore-paused to "
                              "override)")
        paused.exit_code = 255
        raise paused
    proc = opts.process
    steps = check_process(proc, opts)
    profile = st.config.get("seccomp")
    prepared = seccomp.prepare(S.convert(profile, S.LinuxSeccomp, "$.linux.seccomp")) if profile else None
    namespaces = list((st.config.get("namespaces") or {}).keys())
    info = proc_start_time(st.pid)
    if info is None or info[0] != st.init_start_time:
        raise ContainerNotRunning(container_id)
    plan = preexec.ExecPlan(container_id=container_id, init_pid=st.pid, namespaces=namespaces,
                            process=proc, preserve_fds=opts.preserve_fds, seccomp=prepared,
                            procattrs=steps)
    if not opts.detach:
        sc.set_subreaper()  # the process's parent (our setup child) exits at once
    # Signals for a foreground exec are held from before the fork until the
    # forwarder knows the pid: one sent as soon as the process starts is not lost.
    forwarder = None if opts.detach else signals.Forwarder(0)
    held = signals.hold() if forwarder is not None else None
    parent_sock, child_sock = sync.pair()
    procs = {"setup": 0, "init": 0}
    console: list[int] = []
    try:
        cg = cgroups.from_state(st.cgroup) if st.cgroup else None
        log.debug(f"nsexec container setup: forking a process to join {container_id!r}")
        if cg is not None and opts.sub_cgroups:
            cg = cg.sub(opts.sub_cgroups)  # joined by apply(), which says what is missing
            forked = selfjoin.fork_joined(None)
        else:
            forked = selfjoin.fork_joined(cg.self_join() if cg is not None else None)
        pid, cgroup_tasks = forked.pid, forked.tasks
        if pid == 0:  # pragma: no cover - child
            parent_sock.close()
            plan.cgroup_tasks = cgroup_tasks or []
            preexec.run_exec_child(child_sock, plan)
        procs["setup"] = pid
        child_sock.close()
        if prepared is not None:
            prepared.close()
        if cg is not None and cgroup_tasks is None:
            cg.apply(pid)
        sync.send(parent_sock, {"type": "go"})
        _converse(parent_sock, procs, opts, console)
        exec_pid = procs["init"]
        if opts.pid_file:
            write_pid_file(opts.pid_file, exec_pid)
        if forwarder is None:  # detached: the caller gets the pid
            return (console[0] if console else None), exec_pid
        forwarder.pid = exec_pid
        forwarder.install()
    except BaseException:
        for fd in console:
            os.close(fd)
        kill_children(procs)
        if forwarder is not None:
            forwarder.restore()
        raise
    finally:
        parent_sock.close()
        if held is not None:
            signals.release(held)  # pending signals now reach the forwarder
    if opts.relay_terminal:
        # The caller relays the terminal (with its own signal handling).
        forwarder.restore()
        return (console[0] if console else None), forwarder.pid
    return None, forwarder.wait()


def _converse(sock: Any, procs: dict[str, int], opts: ExecOptions, console: list[int]) -> None:
    while True:
        msg, fds = sync.recv(sock)
        if msg is None:
            raise SetupError("exec", "", 0, "exec process exited without reporting")
        kind = msg.get("type")
        if kind == "pid":
            procs["init"] = int(msg["pid"])
            os.waitpid(procs["setup"], 0)
            procs["setup"] = 0
        elif kind == "console":
            hand_over_console(fds, msg.get("name", ""), opts.console_socket, console)
        elif kind == "ready":
            released(sock)
            return
        elif kind == "error":
            raise SetupError.from_dict(msg)
        else:
            raise SetupError("exec", "", 0, f"unexpected message: {msg!r}")
