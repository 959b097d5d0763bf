"""``create``: build the container and leave its init blocked on the exec FIFO.

The CLI process forks the setup child before any thread exists -- born in its
cgroup when the driver allows (kernel/cgroups/selfjoin.py), else the init is
placed by us while it builds its rootfs -- sets the resources (before the
fork when the driver allows), writes uid/gid maps when asked, runs the runtime-namespace hooks
when the init reaches them, and returns once the init reports ``ready``.
On any failure it undoes everything: process, cgroup, state directory.
"""

from __future__ import annotations

import os
import time

from .. import log
from .. import spec as S
from .._lite import suppress
from .._record import record
from ..errors import ConfigError, SetupError
from ..kernel import capabilities, cgroups, lsm, preexec, rootfs, seccomp, sync
from ..kernel.cgroups import selfjoin
from ..kernel.hooks import HookError
from ..kernel.signals import SIGKILL
from ..state import (
    EXEC_FIFO,
    ContainerState,
    Store,
    check_id,
    proc_start_time,
    write_init_record,
)
from . import hooks as H

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


@record
class CreateOptions:
    bundle: str = "."
    pid_file: str | None = None
    console_socket: str | None = None
    no_pivot: bool = False
    no_new_keyring: bool = False
    preserve_fds: int = 0
    systemd_cgroup: bool = False
    # run -t in the foreground: keep the pty master for our own relay instead
    # of handing it to a --console-socket.
    relay_terminal: bool = False
    # `run -t` (runc-go's form): a terminal even when config.json says false.
    force_terminal: bool = False
    # --network: a CNI network to attach (runcgo.net.request.NetworkRequest).
    network: Any = None
    # --rootless true|false|auto (kernel/rootless.py): may cgroups be skipped?
    rootless: str = "auto"


def rfc3339_now() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def build_plan(container_id: str, spec: S.Spec, bundle: str, opts: CreateOptions,
               exec_fifo: str | None, cg: cgroups.CgroupManager | None,
               prepared_seccomp: seccomp.Prepared | None) -> preexec.InitPlan:
    """Turn a validated spec into what the init executes (paths made absolute)."""
    assert spec.process is not None
    linux = spec.linux or S.Linux()
    ns = S.namespaces(spec)
    rootfs_path = S.rootfs_path(spec, bundle)
    mounts = []
    for m in spec.mounts or ():
        if m.source and not m.source.startswith("/") and (m.type in (None, "bind", "none") or
                                                          "bind" in (m.options or ()) or "rbind" in (m.options or ())):
            m = S.Mount(destination=m.destination, type=m.type,
                        source=os.path.join(bundle, m.source), options=m.options)
        mounts.append(m)
    rplan = None
    if "mount" in ns:
        rplan = rootfs.RootfsPlan(
            rootfs=rootfs_path, mounts=mounts, devices=list(linux.devices or ()),
            propagation=linux.rootfs_propagation or "",
            readonly=bool(spec.root and spec.root.readonly), no_pivot=opts.no_pivot,
            in_userns="user" in ns, cgroupns="cgroup" in ns, own_mountns=ns["mount"] is None,
            mount_cgroup=cg.mount_in_container if cg is not None else None,
            idmaps=_idmaps(mounts, linux))
    hooks = spec.hooks
    notify = prepared_seccomp is not None and prepared_seccomp.notify
    return preexec.InitPlan(
        container_id=container_id, rootfs_path=rootfs_path, process=spec.process,
        namespaces=ns, rootfs=rplan, hostname=spec.hostname, domainname=spec.domainname,
        sysctl=dict(linux.sysctl or {}), masked_paths=list(linux.masked_paths or ()),
        readonly_paths=list(linux.readonly_paths or ()),
        time_offsets={k: (v.secs, v.nanosecs) for k, v in (linux.time_offsets or {}).items()},
        exec_fifo=exec_fifo, preserve_fds=opts.preserve_fds, no_new_keyring=opts.no_new_keyring,
        # The hooks round trip also hands the init its state JSON (host pid),
        # which a seccomp notify agent must receive with the listener fd.
        runtime_hooks=bool(hooks and (hooks.prestart or hooks.create_runtime)) or notify,
        hooks=hooks, seccomp=prepared_seccomp, procattrs=procattr_steps(spec))


def _idmaps(mounts: list[S.Mount], linux: S.Linux) -> dict[int, Any]:
    """Mount index -> idmapmount.IdmapRequest, for the idmapped ones."""
    if not any(m.uid_mappings or m.gid_mappings or "idmap" in (m.options or ())
               or "ridmap" in (m.options or ()) for m in mounts):
        return {}
    from ..kernel.idmapmount import request_for

    out = {}
    for i, m in enumerate(mounts):
        req = request_for(m, linux.uid_mappings, linux.gid_mappings)
        if req is not None:
            out[i] = req
    return out


def check_idmapped_mounts(spec: S.Spec) -> None:
    """Idmapped mounts: bind mounts only, both maps (or a user namespace to take them
    from), and host root to make them (runc's rules)."""
    linux = spec.linux or S.Linux()
    for i, m in enumerate(spec.mounts or ()):
        opts = m.options or ()
        flagged = "idmap" in opts or "ridmap" in opts
        if not (m.uid_mappings or m.gid_mappings or flagged):
            continue
        where = f"$.mounts[{i}]"
        if not (m.type == "bind" or "bind" in opts or "rbind" in opts):
            raise ConfigError("id-mapped mounts are only supported for bind mounts", where + ".type")
        uids = m.uid_mappings or (linux.uid_mappings if flagged else None)
        gids = m.gid_mappings or (linux.gid_mappings if flagged else None)
        if not uids or not gids:
            raise ConfigError("id-mapped mounts must have both uid and gid mappings specified",
                              where + (".uidMappings" if not uids else ".gidMappings"))
        if os.geteuid() != 0:
            raise ConfigError("id-mapped mounts are not supported for rootless containers "
                              "(only host root may idmap a host filesystem)", where)


def procattr_steps(spec: S.Spec) -> list[Callable[[], None]]:
    """Validate personality/scheduler/ioPriority/memoryPolicy now; apply them in the init."""
    assert spec.process is not None
    linux = spec.linux or S.Linux()
    steps: list[Callable[[], None]] = []
    if linux.intel_rdt is not None and not os.path.isdir("/sys/fs/resctrl/info"):
        raise ConfigError("this host has no resctrl filesystem (Intel RDT)", "$.linux.intelRdt")
    if not (linux.personality or spec.process.scheduler or spec.process.io_priority
            or linux.memory_policy):
        return steps
    from ..kernel import procattrs as A  # (imports re: only when used)

    if linux.personality:
        A.check_personality(linux.personality)
        steps.append(_bind(A.apply_personality, linux.personality))
    if spec.process.scheduler:
        A.check_scheduler(spec.process.scheduler)
        steps.append(_bind(A.apply_scheduler, spec.process.scheduler))
    if spec.process.io_priority:
        A.check_io_priority(spec.process.io_priority)
        steps.append(_bind(A.apply_io_priority, spec.process.io_priority))
    if linux.memory_policy:
        A.check_memory_policy(linux.memory_policy)
        steps.append(_bind(A.apply_memory_policy, linux.memory_policy))
    return steps


def _bind(fn: Callable[[Any], None], arg: Any) -> Callable[[], None]:
    """functools.partial for one argument (functools is ~1 ms of import)."""
    return lambda: fn(arg)


def check_no_mountns(spec: S.Spec) -> None:
    """Without its own mount namespace a container must not mount onto host paths."""
    if "mount" in S.namespaces(spec):
        return
    linux = spec.linux or S.Linux()
    for field, value in (("$.mounts", spec.mounts), ("$.linux.maskedPaths", linux.masked_paths),
                         ("$.linux.readonlyPaths", linux.readonly_paths),
                         ("$.linux.devices", linux.devices), ("$.linux.sysctl", linux.sysctl)):
        if value:
            raise ConfigError("needs a new mount namespace (add {\"type\": \"mount\"} to "
                              "linux.namespaces): refusing to mount onto host paths", field)
    if spec.root and spec.root.readonly:
        raise ConfigError("needs a new mount namespace", "$.root.readonly")


def check_netns_sysctls(spec: S.Spec) -> None:
    """net.* sysctls in a joined network namespace: refused if it is the host's (as runc)."""
    joined = S.host_netns_sysctls(spec)
    if joined is None:
        return
    key, path = joined
    from ..kernel.sysctl import is_host_netns

    try:
        host = is_host_netns(path)
    except OSError as exc:
        raise ConfigError(f"invalid netns path: stat {path}: {os.strerror(exc.errno or 0).lower()}",
                          "$.linux.namespaces") from None
    if host:
        raise ConfigError(f'sysctl "{key}" not allowed in host network namespace', "$.linux.sysctl")


def check_rootless_euid(spec: S.Spec) -> None:
    """An unprivileged caller: what the kernel would refuse later, said now (runc's checks
    and words): a user namespace with maps, mapped uid=/gid= mount options, no extra groups."""
    linux = spec.linux or S.Linux()
    if "user" not in S.namespaces(spec):
        raise ConfigError("rootless container requires user namespaces (add {\"type\": "
                          "\"user\"} and uid/gid mappings, as `runcgo spec --rootless` writes)",
                          "$.linux.namespaces")
    for field, maps in (("uidMappings", linux.uid_mappings), ("gidMappings", linux.gid_mappings)):
        if not maps and not S.namespaces(spec).get("user"):
            raise ConfigError(f"rootless containers requires at least one "
                              f"{field[:3].upper()} mapping", f"$.linux.{field}")
    for i, m in enumerate(spec.mounts or ()):
        for opt in m.options or ():
            key, _, value = opt.partition("=")
            maps = {"uid": linux.uid_mappings, "gid": linux.gid_mappings}.get(key)
            if maps is None or not value.isdigit():
                continue
            if not any(x.container_id <= int(value) < x.container_id + x.size for x in maps):
                raise ConfigError(f"cannot specify {key}= mount options for unmapped {key} in "
                                  "rootless containers", f"$.mounts[{i}].options")
    assert spec.process is not None
    if spec.process.user.additional_gids:
        raise ConfigError("cannot set any additional groups in a rootless container",
                          "$.process.user.additionalGids")


def check_cgroup_before_use(cg: cgroups.CgroupManager) -> None:
    """A ``cgroupsPath`` may name a cgroup that already exists.  Frozen, it would
    stop our init mid-setup and leave create hanging: refuse, as runc does.
    Holding processes, it works but ``delete`` and ``kill`` will reach them
    too: warn, with runc's wording."""
    if cg.freezer_state() == "frozen":
        raise cgroups.CgroupError("container's cgroup unexpectedly frozen")
    pids = cg.pids()
    if pids:
        log.warning(f"container's cgroup is not empty: {len(pids)} process(es) found")


def write_pid_file(path: str, pid: int) -> None:
    """Digits only, no newline, replaced atomically (containerd reads it at once)."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)


def preflight(bundle: str, opts: CreateOptions) -> S.Spec:
    """Load the bundle's config and run every check that needs no kernel object:
    all of it happens before anything is created.  Raises RuncgoError subclasses
    only (the fuzz tests call this exactly as create does)."""
    spec = S.load_config(bundle)
    assert spec.process is not None
    if opts.force_terminal:
        spec.process.terminal = True
    check_no_mountns(spec)
    check_netns_sysctls(spec)
    if os.geteuid() != 0:
        check_rootless_euid(spec)
    check_idmapped_mounts(spec)
    for warning in capabilities.check(spec.process.capabilities):
        log.warning(warning)
    lsm.check(spec.process.apparmor_profile, spec.process.selinux_label)
    linux = spec.linux or S.Linux()
    if linux.net_devices:
        from ..kernel import netdevices

        ns = S.namespaces(spec)
        netdevices.check(linux.net_devices, "network" in ns and ns["network"] is None)
    if linux.seccomp is not None:
        seccomp.validate(linux.seccomp)
    if spec.process.terminal and not opts.console_socket and not opts.relay_terminal:
        raise ConfigError("cannot allocate a terminal without --console-socket "
                          "(use `runcgo run` for a foreground terminal)", "$.process.terminal")
    return spec


async def create(store: Store, container_id: str, opts: CreateOptions) -> ContainerState:
    st, master = await create_with_console(store, container_id, opts)
    if master is not None:
        os.close(master)
    return st


async def create_with_console(store: Store, container_id: str,
                              opts: CreateOptions) -> tuple[ContainerState, int | None]:
    """create; with ``opts.relay_terminal`` also returns the pty master."""
    check_id(container_id)
    bundle = os.path.abspath(opts.bundle)
    spec = preflight(bundle, opts)
    from ..kernel.rootless import use_rootless_cgroups

    rootless_cgroups = use_rootless_cgroups(opts.rootless, opts.systemd_cgroup)
    assert spec.process is not None
    net: Any = None
    if opts.network is not None:
        from . import network

        net = network.prepare(opts.network, spec)  # before anything is made
    linux = spec.linux or S.Linux()
    cdir = store.make_dir(container_id)  # ContainerExists if the ID is taken
    # Held until state.json is written (or the directory is gone again): a
    # `delete` meanwhile waits, and a directory without state.json whose lock
    # is free is known to be damaged, not under way.  Our children close it.
    lock = store.lock(container_id)
    lock.__enter__()
    fifo = os.path.join(cdir, EXEC_FIFO)
    prepared: seccomp.Prepared | None = None
    cg: cgroups.CgroupManager | None = None
    procs = {"setup": 0, "init": 0}
    console: list[int] = []
    parent_sock = child_sock = None
    try:
        prepared = seccomp.prepare(linux.seccomp)
        os.mkfifo(fifo, 0o622)
        cg = cgroups.new_manager(container_id, linux.cgroups_path, systemd=opts.systemd_cgroup,
                                 rootless=rootless_cgroups)
        record = _InitRecord(store, container_id, cg)
        pending = record.write()  # before any cgroup directory exists
        cg.create()
        record.cgroup_made = True
        if cgroups.assume_created(cg.to_state()) != cgroups.assume_created(pending):
            record.write()  # it made parents too (else the pending record says it all)
        check_cgroup_before_use(cg)
        plan = build_plan(container_id, spec, bundle, opts, fifo, cg, prepared)
        if net is not None:
            plan.runtime_hooks = True  # the init stops where CNI ADD belongs
        parent_sock, child_sock = sync.pair()
        st = ContainerState(id=container_id, pid=0, bundle=bundle, rootfs=plan.rootfs_path,
                            created=rfc3339_now(), init_start_time=0,
                            annotations=dict(spec.annotations or {}),
                            oci_version=spec.oci_version, status="creating",
                            config=_saved_config(spec), cgroup=cg.to_state(),
                            owner="", systemd_cgroup=opts.systemd_cgroup)
        join = cg.self_join()
        if join is not None:
            # Limits before the first process: the child is born placed, and
            # configured, with no message to wait for (and v1's kmem limit can
            # only be set on an empty cgroup anyway).
            cg.set(linux.resources, devices=list(linux.devices or ()))
            plan.cgroup_configured = True
            st.cgroup = cg.to_state()
        log.debug(f"nsexec container setup: forking the init of {container_id!r}")
        forked = selfjoin.fork_joined(join, preexec.direct_clone_flags(plan))
        if forked.pid == 0:  # pragma: no cover - child
            os.close(lock.fd)
            parent_sock.close()
            plan.cgroup_tasks = forked.tasks or []
            plan.cgroup_joined = forked.tasks is not None
            if forked.in_namespaces:
                preexec.run_direct_init(child_sock, plan)
            preexec.run_setup_child(child_sock, plan)
        procs["init" if forked.in_namespaces else "setup"] = forked.pid
        child_sock.close()
        child_sock = None
        if prepared is not None:
            prepared.close()  # the listener socket now lives in the child only
        talk = _Conversation(parent_sock, procs, linux, spec, st, opts, console, cg,
                             joined=forked.tasks is not None, configured=plan.cgroup_configured,
                             on_init=record.init_born, on_hook=record.hook_started,
                             on_runtime=_network_up(store, st, net) if net is not None else None)
        if forked.in_namespaces:
            talk.init_born(forked.pid)  # no setup child: ours is the init itself
        talk.run()
        init_pid = procs["init"]
        info = proc_start_time(init_pid)
        if info is None:
            raise SetupError("init", "", 0, "container init exited during setup")
        st.pid, st.init_start_time, st.status = init_pid, info[0], "created"
        store.save(st)
        if opts.pid_file:
            write_pid_file(opts.pid_file, init_pid)
        return st, (console[0] if console else None)
    except BaseException:
        for fd in console:
            os.close(fd)
        if prepared is not None:
            prepared.close()
        kill_children(procs)
        if procs["init"]:
            _wait_gone(procs["init"])
        if cg is not None:
            # Never let a cleanup failure hide the error that brought us here.
            with suppress(Exception):
                cg.destroy()
        if net is not None:
            from . import network

            network.disconnect_logged(store, container_id, quiet=True)
        store.remove_dir(container_id)
        raise
    finally:
        lock.__exit__(None, None, None)
        for s in (parent_sock, child_sock):
            if s is not None:
                s.close()


def _network_up(store: Store, st: ContainerState, net: Any) -> Callable[[int], None]:
    """CNI ADD for the init's namespace (a createRuntime-time step, run before the hooks)."""
    def up(pid: int) -> None:
        from . import network

        st.network = network.connect(store, st.id, pid, net)

    return up


class _InitRecord:
    """What ``delete --force`` needs if we die before state.json exists: the
    cgroup (recorded before it is made) and the init's pid and start time
    (recorded as soon as the init exists).  See state.write_init_record."""

    def __init__(self, store: Store, container_id: str, cg: cgroups.CgroupManager) -> None:
        self.store, self.container_id, self.cg = store, container_id, cg
        self.cgroup_made = False
        self.pid = self.start_time = 0
        self.hooks: list[list[int]] = []  # [pid, start time]: each leads a session

    def write(self) -> dict[str, Any]:
        """Write the record; returns the cgroup state it holds."""
        state = self.cg.to_state()
        write_init_record(self.store, self.container_id, {
            "cgroup": state, "cgroup_made": self.cgroup_made,
            "pid": self.pid, "init_start_time": self.start_time, "hooks": self.hooks})
        return state

    def hook_started(self, pid: int) -> None:
        info = proc_start_time(pid)
        if info is not None:
            self.hooks.append([pid, info[0]])
            self.write()

    def init_born(self, pid: int) -> None:
        info = proc_start_time(pid)
        if info is not None:
            self.pid, self.start_time = pid, info[0]
            self.write()


def _saved_config(spec: S.Spec) -> dict[str, Any]:
    """What later commands need from the config: hooks (poststart/poststop), namespaces."""
    from .._struct import to_builtins

    out: dict[str, Any] = {"namespaces": S.namespaces(spec),
                           "process": to_builtins(spec.process)}
    if spec.hooks:
        out["hooks"] = to_builtins(spec.hooks)
    if spec.linux and spec.linux.seccomp:
        out["seccomp"] = to_builtins(spec.linux.seccomp)
    return out


class _Conversation:
    """Answer the children until the init is ready.

    ``procs`` tracks the setup child (zeroed once reaped, so cleanup never
    signals a recycled pid) and the init's host pid.  ``joined``: the child
    entered the cgroup itself (selfjoin), the init was born there.
    """

    def __init__(self, sock: Any, procs: dict[str, int], linux: S.Linux, spec: S.Spec | None,
                 st: ContainerState | None, opts: Any, console: list[int],
                 cg: cgroups.CgroupManager | None = None, joined: bool = False,
                 configured: bool = False, on_init: Callable[[int], None] | None = None,
                 on_hook: Callable[[int], None] | None = None,
                 on_runtime: Callable[[int], None] | None = None) -> None:
        self.sock, self.procs, self.linux, self.spec, self.st = sock, procs, linux, spec, st
        self.opts, self.console, self.cg = opts, console, cg
        self.joined, self.configured, self.on_init = joined, configured, on_init
        self.on_hook = on_hook
        self.on_runtime = on_runtime  # runtime work due at the createRuntime point (CNI ADD)

    def init_born(self, pid: int) -> None:
        """The init exists (and is building its rootfs): its cgroup and devices."""
        self.procs["init"] = pid
        if self.on_init is not None:
            self.on_init(pid)  # on disk before anything else can fail
        if self.st is not None:
            self.st.pid = pid
        cg, linux, sock = self.cg, self.linux, self.sock
        if cg is not None and not (self.joined and self.configured):
            # The init waits for this message before anything that depends on
            # its cgroup or its limits.
            try:
                if not self.joined:
                    cg.apply(pid)
                if not self.configured:
                    cg.set(linux.resources, devices=list(linux.devices or ()))
                if self.st is not None:
                    self.st.cgroup = cg.to_state()  # after apply: a driver may learn things
                sync.send(sock, {"type": "cgroup"})
            except Exception:
                # If the init failed first, its own error message (queued on
                # the socket) says why: report that, not our broken pipe.
                queued = _queued_message(sock)
                if queued is not None and queued.get("type") == "error":
                    raise SetupError.from_dict(queued) from None
                raise
        if linux.net_devices:
            # The init's netns exists now; the init can't reach "ready" before
            # it asks for the hooks or reports, so the devices are there in time.
            from ..kernel import netdevices

            netdevices.move_into(pid, linux.net_devices)

    def run(self) -> None:
        sock, procs, spec, st = self.sock, self.procs, self.spec, self.st
        while True:
            msg, fds = sync.recv(sock)
            if msg is None:
                raise SetupError("init", "", 0, "container init exited without reporting")
            kind = msg.get("type")
            if kind == "userns":
                from ..kernel.idmap import write_maps

                write_maps(procs["setup"], self.linux.uid_mappings, self.linux.gid_mappings)
                sync.send(sock, {"type": "userns-done"})
            elif kind == "pid":
                pid = int(msg["pid"])
                procs["init"] = pid
                _reap(procs)
                self.init_born(pid)
            elif kind == "console":
                hand_over_console(fds, msg.get("name", ""), self.opts.console_socket, self.console)
            elif kind == "hooks" and spec is not None and st is not None:
                if self.on_runtime is not None:
                    self.on_runtime(procs["init"])
                try:
                    H.run_fatal("prestart", spec.hooks, "prestart", st, "creating",
                                self.on_hook)
                    H.run_fatal("createRuntime", spec.hooks, "create_runtime", st, "creating",
                                self.on_hook)
                except HookError as exc:
                    raise SetupError("hook", exc.hook.path, 0, str(exc)) from None
                sync.send(sock, {"type": "hooks-done",
                                 "state": H.state_json(st, "creating").decode()})
            elif kind == "ready":
                released(sock)
                return
            elif kind == "error":
                raise SetupError.from_dict(msg)
            else:
                raise SetupError("init", "", 0, f"unexpected message from init: {msg!r}")


def released(sock: Any, timeout_ms: int = 1000) -> None:
    """After ``ready``, wait (briefly) for the init to close its end of the socket:
    it does so by exec'ing (the waiter, or the user's program), which drops its
    copy-on-write share of our memory.  Every page we wrote while it still
    shared them was copied -- page faults were the largest kernel cost of a
    create -- and what we write next (state, replies) then isn't.  An init that
    waits as it is closes the socket at once; the timeout only bounds a stray
    holder of the socket."""
    import select

    p = select.poll()
    p.register(sock.fileno(), select.POLLIN | select.POLLHUP)
    p.poll(timeout_ms)


def _queued_message(sock: Any) -> dict[str, Any] | None:
    """A message already waiting on the socket, or None (never blocks)."""
    sock.setblocking(False)
    try:
        msg, _fds = sync.recv(sock)
        return msg
    except (BlockingIOError, OSError):
        return None
    finally:
        sock.setblocking(True)


def kill_children(procs: dict[str, int]) -> None:
    """Abort a half-made container or exec: SIGKILL the init (or exec'd process) and
    the setup child, and reap the setup child (the other is not ours to reap)."""
    if procs["init"]:
        with suppress(ProcessLookupError):
            os.kill(procs["init"], SIGKILL)
    if procs["setup"]:
        with suppress(ProcessLookupError):
            os.kill(procs["setup"], SIGKILL)
        with suppress(ChildProcessError):
            os.waitpid(procs["setup"], 0)


def hand_over_console(fds: list[int], name: str, socket_path: str | None,
                      keep: list[int]) -> None:
    """The init's pty master: to --console-socket, or kept for our own relay."""
    if len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise SetupError("console", "", 0, "expected one pty master fd from the init")
    if socket_path:
        from ..kernel.console import send_console

        try:
            send_console(socket_path, fds[0], name)
        finally:
            os.close(fds[0])
    else:
        keep.append(fds[0])


def _reap(procs: dict[str, int]) -> None:
    _, status = os.waitpid(procs["setup"], 0)
    procs["setup"] = 0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SetupError("init", "", 0, "setup process failed")


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    """Wait for a process that isn't our child to disappear (reaped by its reaper)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        from ..kernel.signals import wait_pidfd

        wait_pidfd(fd, timeout)
        with suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    finally:
        os.close(fd)
