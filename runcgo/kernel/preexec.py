"""The pre-exec child: the program that turns a forked copy of runcgo into the container.

Up to two processes run this module, forked before any thread or event loop:

* the *init* builds the rootfs and the process context, reports ``ready`` (or
  an ``error`` with op/path/errno), blocks on the exec FIFO until ``start``,
  and execs the user's program.  Usually it is cloned straight into its new
  namespaces and cgroup (:func:`direct_clone_flags`, :func:`run_direct_init`);
* when namespaces must be joined by path first, or for a user or time
  namespace, a *setup child* runs first: it joins/unshares them (waiting for
  the parent to write uid/gid maps), then forks the init -- PID 1 of a new PID
  namespace -- reports its pid and exits.  Before a user namespace it forks
  an opener for the bind sources (kernel/mountsources.py).

Everything here is blocking and synchronous on purpose; it never returns.
"""

from __future__ import annotations

import os
import sys

from .. import log

# Everything the children run after pivot_root/setns(mnt) must be imported
# here, before fork: the runtime's own files are not reachable from inside.
from .._lite import suppress
from .._record import field, record
from ..spec import Hooks, Process
from . import (
    capabilities,
    hooks,
    lsm,
    mountsources,
    netdev,
    process,
    rootfs,
    seccomp,
    seccomp_eval,
    waiter,
)
from . import console as pty_console
from . import sync as S
from . import syscalls as sc
from .cgroups.selfjoin import join_tasks

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    import _socket
    from collections.abc import Callable
    from typing import Any, NoReturn


@record
class InitPlan:
    """Everything the init needs, computed and validated by the parent before fork."""

    container_id: str
    rootfs_path: str
    process: Process
    namespaces: dict[str, str | None]
    rootfs: rootfs.RootfsPlan | None
    hostname: str | None = None
    domainname: str | None = None
    sysctl: dict[str, str] = field(default_factory=dict)
    masked_paths: list[str] = field(default_factory=list)
    readonly_paths: list[str] = field(default_factory=list)
    time_offsets: dict[str, tuple[int, int]] = field(default_factory=dict)
    exec_fifo: str | None = None
    exec_fifo_fd: int = -1
    preserve_fds: int = 0
    no_new_keyring: bool = False
    runtime_hooks: bool = False
    hooks: Hooks | None = None
    seccomp: seccomp.Prepared | None = None
    procattrs: list[Callable[[], None]] = field(default_factory=list)
    # Set in the setup child right after fork (cgroups.selfjoin): v1 ``tasks``
    # files to join, and whether we joined (born in) the cgroup ourselves.
    cgroup_tasks: list[str] = field(default_factory=list)
    cgroup_joined: bool = False
    cgroup_configured: bool = False  # resources set before the fork (no ``cgroup`` message)


def _fresh_signal_mask() -> None:
    """The parent may hold signals blocked while it forks us (to forward them once
    it knows whom to): a blocked mask survives execve, so clear it here."""
    from .signals import clear_mask

    clear_mask()


def _preload(prepared: seccomp.Prepared | None, rootfs_plan: rootfs.RootfsPlan | None = None) -> None:
    """Import, while the host's files are still visible, what only some paths need."""
    if prepared is not None and prepared.notify:
        from . import seccomp_notify  # noqa: F401
    if rootfs_plan is not None and rootfs_plan.mount_cgroup is not None:
        from .cgroups import mountfs  # noqa: F401
    if rootfs_plan is not None and rootfs_plan.idmaps:
        from . import idmapmount  # noqa: F401


def run_setup_child(sock: _socket.socket, plan: InitPlan) -> NoReturn:
    """Entry point of the setup child (right after fork)."""
    op = "namespaces"
    try:
        _fresh_signal_mask()
        _preload(plan.seccomp, plan.rootfs)
        _setup_child(sock, plan)
    except BaseException as exc:  # every failure must reach the parent as a message
        _report(sock, exc, op)
        os._exit(1)
    os._exit(0)


def direct_clone_flags(plan: InitPlan) -> int:
    """CLONE_NEW* flags to fork the init straight into its namespaces, or 0
    when a setup child is needed: to join a namespace by path first, for a
    user namespace (the parent writes its maps in between) or a time
    namespace (offsets are written before anyone enters it).  The cgroup
    namespace is always made by the init, once it is in its cgroups."""
    flags = 0
    for kind, path in plan.namespaces.items():
        if path is not None or kind in ("user", "time"):
            return 0
        if kind != "cgroup":
            flags |= sc.NS_FLAGS[kind]
    return flags


def run_direct_init(sock: _socket.socket, plan: InitPlan) -> NoReturn:
    """Entry point of an init forked straight into its new namespaces
    (:func:`direct_clone_flags`): what the setup child would have done, then
    the init's own work."""
    try:
        _fresh_signal_mask()
        _preload(plan.seccomp, plan.rootfs)
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        join_tasks(plan.cgroup_tasks)
        if plan.exec_fifo:
            plan.exec_fifo_fd = os.open(plan.exec_fifo, os.O_RDWR | os.O_CLOEXEC)
        _init(sock, plan)
    except BaseException as exc:
        _report(sock, exc, "init")
        os._exit(1)
    os._exit(0)  # not reached: _init execs


def _report(sock: _socket.socket, exc: BaseException, op: str) -> None:
    """To the parent; once it is gone (after ``ready``: a startContainer hook, the
    seccomp agent) on our stderr -- the container's, which is the user's for ``run``."""
    msg = S.error_message(exc, op)
    try:
        S.send(sock, msg)
    except BaseException:
        with suppress(BaseException):
            os.write(2, f"runcgo: {msg['message']}\n".encode())


def _expect(sock: _socket.socket, kind: str) -> dict[str, Any]:
    msg, _ = S.recv(sock)
    if msg is None or msg.get("type") != kind:
        raise RuntimeError(f"parent went away (waiting for {kind!r}, got {msg!r})")
    return msg


def _setup_child(sock: _socket.socket, plan: InitPlan) -> None:
    # Nothing of the runtime may be ptrace-able or /proc/PID/exe-reachable from
    # the container while we are in its namespaces (CVE-2019-5736 class).
    sc.prctl(sc.PR_SET_DUMPABLE, 0)
    join_tasks(plan.cgroup_tasks)  # as host root, before any namespace
    if plan.exec_fifo:
        # Opened read-write while we are still host root and can reach the
        # 0700 state dir (the init may run as a mapped uid): ``start`` writes
        # one byte into it and the init's blocking read returns.
        plan.exec_fifo_fd = os.open(plan.exec_fifo, os.O_RDWR | os.O_CLOEXEC)
    ns = plan.namespaces
    join_fds: dict[str, int] = {}
    for kind, path in ns.items():
        if path:
            try:
                join_fds[kind] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise OSError(exc.errno, f"open namespace {kind} path {path}") from None
    opener = None
    # (Rootless, the opener would have no more access than the init, and could
    # not join a mount namespace owned by the container's user namespace.)
    if "user" in ns and plan.rootfs is not None and os.geteuid() == 0:
        sources = mountsources.bind_sources(plan.rootfs.mounts)
        if sources:  # opened as host root, in the container's mount namespace
            opener = mountsources.start(sources, plan.rootfs.idmaps)
    if "user" in join_fds:
        sc.setns(join_fds.pop("user"), sc.CLONE_NEWUSER, ns["user"] or "")
    elif "user" in ns:
        rootless = os.geteuid() != 0  # (after unshare we are nobody until mapped)
        sc.unshare(sc.CLONE_NEWUSER)
        # An unprivileged parent can only write our /proc/PID/{uid_map,gid_map,
        # setgroups} -- and newuidmap only open them -- while we are dumpable
        # (else they belong to root): briefly, and with nothing of the container
        # running yet.
        if rootless:
            sc.prctl(sc.PR_SET_DUMPABLE, 1)
        S.send(sock, {"type": "userns"})
        _expect(sock, "userns-done")
        if rootless:
            sc.prctl(sc.PR_SET_DUMPABLE, 0)
    if "user" in ns:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    for kind, fd in join_fds.items():
        sc.setns(fd, sc.NS_FLAGS[kind], ns[kind] or "")
        os.close(fd)
    flags = 0
    for kind, path in ns.items():
        # A new cgroup namespace is made by the init itself, once the parent has
        # placed it in its cgroup (the namespace's root is the cgroup at unshare).
        if path is None and kind not in ("user", "cgroup"):
            flags |= sc.NS_FLAGS[kind]
    if flags:
        sc.unshare(flags)
    if opener is not None:
        assert plan.rootfs is not None
        plan.rootfs.source_fds = mountsources.collect(opener)
    if plan.time_offsets:
        with open("/proc/self/timens_offsets", "w") as f:
            f.write("".join(f"{clock} {s} {n}\n" for clock, (s, n) in plan.time_offsets.items()))
    pid, gate = _fork_gated()
    if pid == 0:
        op = "init"
        try:
            _pass_gate(gate)
            _init(sock, plan)
        except BaseException as exc:
            _report(sock, exc, op)
            os._exit(1)
        os._exit(0)  # not reached: _init execs
    S.send(sock, {"type": "pid", "pid": pid})
    os.close(gate)  # now the child may speak: the parent knows its pid first


def _fork_gated() -> tuple[int, int]:
    """fork, holding the child until we have told the parent its pid.

    Child and setup child share one socket to the parent: without the gate the
    child's first message could overtake our ``pid`` message.  Returns (pid, fd):
    in the parent the write end (close it to open the gate), in the child the
    read end (for _pass_gate).
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        return 0, r
    os.close(r)
    return pid, w


def _pass_gate(fd: int) -> None:
    while os.read(fd, 1):
        pass
    os.close(fd)


class _CgroupGate:
    """Two waits on the cgroup, both ended by the parent's one ``cgroup``
    message when they are not already true at fork.  *Placed*: the init is
    in its cgroup, so it can make its cgroup namespace and mount ``cgroup``;
    either it was born there (selfjoin) or the parent moves it while it builds
    the rootfs (~10 ms of kernel RCU time; the two overlap).  *Configured*:
    the resources are set (before the fork when the driver allows); nothing
    of the user's may run before that."""

    def __init__(self, sock: _socket.socket, new_cgroupns: bool, placed: bool,
                 configured: bool) -> None:
        self.sock, self.new_cgroupns = sock, new_cgroupns
        self.placed, self.configured = False, configured
        if placed:
            self._on_placed()

    def _on_placed(self) -> None:
        if self.new_cgroupns:
            sc.unshare(sc.CLONE_NEWCGROUP)
        self.placed = True

    def _message(self) -> None:
        _expect(self.sock, "cgroup")
        self.configured = True
        if not self.placed:
            self._on_placed()

    def wait_placed(self) -> None:
        if not self.placed:
            self._message()

    def wait_configured(self) -> None:
        if not (self.configured and self.placed):
            self._message()


def _init(sock: _socket.socket, plan: InitPlan) -> NoReturn:
    log.debug("child process in init(): building the container from inside its namespaces")
    os.setsid()
    ns = plan.namespaces
    gate = _CgroupGate(sock, "cgroup" in ns and ns["cgroup"] is None, plan.cgroup_joined,
                       plan.cgroup_configured)
    if plan.rootfs is not None and plan.rootfs.mount_cgroup is not None:
        mount_cgroup = plan.rootfs.mount_cgroup

        def placed_then_mount(target: str, readonly: bool, flags: int, cgroupns: bool) -> None:
            gate.wait_placed()
            mount_cgroup(target, readonly, flags, cgroupns)

        plan.rootfs.mount_cgroup = placed_then_mount
    if "network" in ns and ns["network"] is None:
        netdev.loopback_up()
    if plan.hostname:
        sc.sethostname(plan.hostname)
    if plan.domainname:
        sc.setdomainname(plan.domainname)
    if plan.rootfs is not None:
        rootfs.prepare(plan.rootfs)
    gate.wait_configured()
    if plan.runtime_hooks:
        S.send(sock, {"type": "hooks"})
        msg = _expect(sock, "hooks-done")
        state_json = msg["state"].encode()
    else:
        state_json = b""
    if plan.hooks and plan.hooks.create_container:
        os.chdir(plan.rootfs_path)  # runc runs them there: "./lib/x" is the container's
        hooks.run_hooks("createContainer", plan.hooks.create_container, state_json)
    fifo_fd = plan.exec_fifo_fd
    proc = plan.process
    if plan.rootfs is not None:
        rootfs.enter(plan.rootfs)
        _make_cwd(proc.cwd)  # before / may become read-only
        if proc.terminal:
            _setup_terminal(sock, proc, console=True)
        rootfs.finish(plan.rootfs, plan.masked_paths, plan.readonly_paths, plan.sysctl)
    else:
        os.chroot(plan.rootfs_path)
        os.chdir("/")
        _make_cwd(proc.cwd)
        if proc.terminal:
            _setup_terminal(sock, proc, console=False)
    if not plan.no_new_keyring:
        try:
            sc.join_session_keyring(f"_ses.{plan.container_id}"[:255])
        except OSError as exc:
            if exc.errno not in (38, 13):  # ENOSYS; EACCES in some user namespaces
                raise
    log.debug("init: closing the pipe to signal completion once the process is set up")
    # Wait in a 4 KiB program instead of this whole interpreter (waiter.py), made now,
    # before a filter may be loaded; it loads a noNewPrivileges filter itself.
    waiter_fd = _prepare_waiter(plan, fifo_fd) if fifo_fd >= 0 else -1
    exe, env = become(proc, plan.procattrs, plan.preserve_fds,
                      plan.seccomp if not proc.no_new_privileges else None, state_json)
    S.send(sock, {"type": "ready"})
    if fifo_fd >= 0 and waiter_fd >= 0:
        # The socket closes at the exec (close-on-exec): that EOF tells the parent
        # we no longer share its memory (see create's _Conversation.run).
        waiter.run(waiter_fd, fifo_fd, exe, proc.args or [], env)
    sock.close()
    if fifo_fd >= 0:
        _wait_for_start(fifo_fd)
    if proc.no_new_privileges and plan.seccomp is not None:
        # As late as possible, but before the startContainer hooks: they run
        # in the container, under its filter (as with runc).
        seccomp.load(plan.seccomp, state_json or None)
    if plan.hooks and plan.hooks.start_container:
        hooks.run_hooks("startContainer", plan.hooks.start_container, state_json)
    _exec(exe, proc.args or [], env, proc)


def _prepare_waiter(plan: InitPlan, fifo_fd: int) -> int:
    """The waiter's memfd, or -1 to wait in Python.  The waiter can finish when what is left
    after ``start`` is the exec, preceded at most by loading a seccomp filter without a
    notify listener: no startContainer hooks and no LSM label to arm for the exec.  A
    noNewPrivileges filter is the waiter's to load; one loaded before the wait (without
    noNewPrivileges it goes in before the capability drop) must let the waiter's own
    syscalls through, which the filter itself is asked (seccomp_eval)."""
    proc = plan.process
    sec = plan.seccomp
    if (not waiter.supported() or (plan.hooks and plan.hooks.start_container)
            or proc.apparmor_profile or proc.selinux_label or (sec is not None and sec.notify)):
        return -1
    if sec is None or not proc.no_new_privileges:
        fd = waiter.prepare(fifo_fd)
        if fd >= 0 and sec is not None and not seccomp_eval.allows(
                sec.bpf, waiter.calls_under_filter(fifo_fd, fd)):
            os.close(fd)
            return -1
        return fd
    return waiter.prepare(fifo_fd, sec.bpf, sec.flags)


def become(proc: Process, procattrs: list[Callable[[], None]], preserve_fds: int,
           early_seccomp: seccomp.Prepared | None, state_json: bytes = b"") -> tuple[str, dict[str, str]]:
    """Turn this process into the configured one, up to (not including) exec.

    Order matters: attributes and rlimits while still root; seccomp before the
    capability drop when there is no no_new_privs (loading needs CAP_SYS_ADMIN);
    bounding set, keep-caps, uid switch, then the remaining capability sets.  Returns the resolved executable and env.
    """
    for apply in procattrs:
        apply()
    process.set_oom_score_adj(proc.oom_score_adj)
    process.set_rlimits(proc.rlimits)
    env = process.build_env(proc.env, proc.user.uid)
    keep = {0, 1, 2, *range(3, 3 + preserve_fds)}
    process.close_fds_except(keep)
    if proc.no_new_privileges:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    if early_seccomp is not None:
        seccomp.load(early_seccomp, state_json or None)
    # The cwd is tried first with our full privileges (a root-owned 0700 dir the
    # user may not search) and again as the final user (a dir only that user can
    # reach, e.g. root squashed on NFS): runc accepts either.
    try:
        os.chdir(proc.cwd)
        cwd_done = True
    except OSError:
        cwd_done = False
    capabilities.apply_bounding(proc.capabilities)
    capabilities.keep_caps_for_user_switch()
    process.switch_user(proc.user)
    capabilities.apply_sets(proc.capabilities)
    if not cwd_done:
        try:
            os.chdir(proc.cwd)
        except OSError as exc:
            raise OSError(exc.errno, f'chdir to cwd ("{proc.cwd}") set in config.json') from None
    _check_cwd_inside(proc.cwd)
    # (the labels themselves are armed in _exec, right before execve)
    assert proc.args
    return process.find_executable(proc.args[0], env, proc.cwd), env


def _check_cwd_inside(cwd: str) -> None:
    """The cwd must be reachable from our root (CVE-2024-21626: a cwd through a
    leaked host fd, /proc/self/fd/N, would put the process outside the container)."""
    try:
        here = os.getcwd()
    except OSError:
        here = ""
    if not here.startswith("/"):
        raise OSError(1, f'cwd ("{cwd}") is outside the container root')


def _exec(exe: str, args: list[str], env: dict[str, str], proc: Process | None = None) -> NoReturn:
    if proc is not None and (proc.apparmor_profile or proc.selinux_label):
        lsm.apply_on_exec(proc.apparmor_profile, proc.selinux_label)
    try:
        os.execve(exe, args, env)
    except OSError as exc:
        sys.stderr.write(f"runcgo: exec {exe}: {exc.strerror}\n")
        sys.stderr.flush()
    os._exit(127)


def _setup_terminal(sock: _socket.socket, proc: Process, console: bool) -> None:
    """Allocate the pty in the container's devpts; the master goes to the parent."""
    C = pty_console
    master, peer, name = C.open_pty()
    # The terminal belongs to the process's user (devpts' gid= option gives the
    # group, usually tty): `stat $(tty)` shows uid 1000 for a uid-1000 process.
    if proc.user.uid:
        try:
            os.fchown(peer, proc.user.uid, -1)
        except OSError as exc:
            if exc.errno not in (1, 22):  # EPERM, EINVAL: an unmapped uid in a user namespace
                raise OSError(exc.errno, f"chown {name} to uid {proc.user.uid}") from None
    if proc.console_size:
        C.set_size(peer, proc.console_size.height, proc.console_size.width)
    if console:
        C.bind_console(name)
    S.send(sock, {"type": "console", "name": name}, [master])
    os.close(master)
    C.make_stdio(peer)


# --- exec: a new process in a running container -------------------------------


@record
class ExecPlan:
    """What ``exec`` needs: the container's init pid and namespaces, and the process."""

    container_id: str
    init_pid: int
    namespaces: list[str]
    process: Process
    preserve_fds: int = 0
    seccomp: seccomp.Prepared | None = None
    procattrs: list[Callable[[], None]] = field(default_factory=list)
    cgroup_tasks: list[str] = field(default_factory=list)  # see InitPlan


def run_exec_child(sock: _socket.socket, plan: ExecPlan) -> NoReturn:
    """Entry point of exec's setup child: join the namespaces, fork into the pid ns."""
    try:
        _fresh_signal_mask()
        _preload(plan.seccomp)
        join_tasks(plan.cgroup_tasks)  # before any setns: the paths are the host's
        _expect(sock, "go")  # the parent has put us in the container's cgroup
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        fds: dict[str, int] = {}
        for kind in plan.namespaces:
            path = f"/proc/{plan.init_pid}/ns/{sc.NS_PROC_NAMES[kind]}"
            try:
                fds[kind] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise OSError(exc.errno, f"open namespace {path}") from None
        if "user" in fds:
            sc.setns(fds.pop("user"), sc.CLONE_NEWUSER, "user namespace")
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        for kind in ("ipc", "uts", "network", "pid", "time", "cgroup", "mount"):
            if kind in fds:
                sc.setns(fds[kind], sc.NS_FLAGS[kind], f"{kind} namespace")
                os.close(fds[kind])
        pid, gate = _fork_gated()
        if pid == 0:
            try:
                _pass_gate(gate)
                log.debug("child process in init(): inside the container's namespaces")
                _exec_process(sock, plan)
            except BaseException as exc:
                _report(sock, exc, "exec")
                os._exit(1)
        S.send(sock, {"type": "pid", "pid": pid})
        os.close(gate)
    except BaseException as exc:
        _report(sock, exc, "exec")
        os._exit(1)
    os._exit(0)


def _exec_process(sock: _socket.socket, plan: ExecPlan) -> NoReturn:
    proc = plan.process
    if proc.terminal:
        os.setsid()
        _setup_terminal(sock, proc, console=False)
    # (debug lines before become(): a seccomp profile may trap write(2) after it)
    log.debug(f"setns_init: about to exec {proc.args[0] if proc.args else ''!r}")
    exe, env = become(proc, plan.procattrs, plan.preserve_fds,
                      plan.seccomp if not proc.no_new_privileges else None)
    if proc.no_new_privileges and plan.seccomp is not None:
        seccomp.load(plan.seccomp)
    S.send(sock, {"type": "ready"})
    _exec(exe, proc.args or [], env, proc)  # closes the socket (close-on-exec): see above


def _make_cwd(cwd: str) -> None:
    if not os.path.isdir(cwd):
        try:
            os.makedirs(cwd, 0o755, exist_ok=True)
        except OSError as exc:
            raise OSError(exc.errno, f"create cwd {cwd}") from None


def _wait_for_start(fifo_fd: int) -> None:
    """Block until ``start`` writes its byte into the exec FIFO.

    The FIFO was opened before the uid switch: reopening it through
    /proc/self/fd would fail for a non-root user of a non-dumpable process.
    """
    if not os.read(fifo_fd, 1):  # our own O_RDWR fd keeps a writer: EOF cannot happen
        raise OSError(32, "exec fifo: end of file before start")  # not a busy loop if it did
    os.close(fifo_fd)
