"""``checkpoint`` / ``restore``: runc 1.1's commands, with CRIU doing the work.

runcgo owns everything around criu (kernel/criu/ drives it): the container must
exist and run; the image paths must make sense (``--parent-path`` is relative to
``--image-path`` and must be a directory, as runc insists); criu must be able to
work on this kernel (else its own words, in one line, and the container is not
touched); the bundle's bind mounts become criu's external mounts; the init's
stdio goes into the image as ``descriptors.json`` (runc's file) so a restore can
re-attach pipes.

The states are runc's: after a dump the container is gone (its processes were
killed by criu, its cgroup and state directory removed, poststop hooks run)
unless ``--leave-running``; a pre-dump leaves it running.  A restore makes an
ordinary running container under the given ID (the same or a new one), in its
own new cgroup; without ``--detach`` we wait for it and exit with its status,
then delete it, as ``run`` does.
"""

from __future__ import annotations

import os

from .. import spec as S
from .._lite import suppress
from .._record import field, record
from ..errors import ContainerExists, ContainerNotRunning, InvalidArgument
from ..kernel.criu import argv as A
from ..kernel.criu.binary import CriuError
from ..state import Store, check_id, load_checked

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .._lite import SimpleNamespace
    from ..state import ContainerState

__all__ = ["CheckpointOptions", "CriuError", "RestoreOptions", "checkpoint", "restore"]

DESCRIPTORS = "descriptors.json"  # runc's name: the init's fds 0-2 at dump time


@record
class CriuOptions:
    """Flags both commands take (runc's names)."""

    image_path: str | None = None  # default: ./checkpoint
    work_path: str | None = None   # default: the image path
    tcp_established: bool = False
    ext_unix_sk: bool = False
    shell_job: bool = False
    file_locks: bool = False
    manage_cgroups_mode: str | None = None
    empty_ns: str | None = None
    auto_dedup: bool = False
    lazy_pages: bool = False


@record
class CheckpointOptions:
    criu: CriuOptions = field(default_factory=CriuOptions)
    leave_running: bool = False
    pre_dump: bool = False
    parent_path: str | None = None
    status_fd: int = -1
    page_server: str | None = None


@record
class RestoreOptions:
    criu: CriuOptions = field(default_factory=CriuOptions)
    bundle: str = "."
    detach: bool = False
    pid_file: str | None = None
    console_socket: str | None = None
    no_pivot: bool = False
    no_subreaper: bool = False
    systemd_cgroup: bool = False
    lsm_profile: str | None = None
    lsm_mount_context: str | None = None
    relay_terminal: bool = False  # the API: keep the restored console's master, no socket


def _criu_options(a: SimpleNamespace) -> CriuOptions:
    return CriuOptions(image_path=a.image_path, work_path=a.work_path,
                       tcp_established=a.tcp_established, ext_unix_sk=a.ext_unix_sk,
                       shell_job=a.shell_job, file_locks=a.file_locks,
                       manage_cgroups_mode=a.manage_cgroups_mode, empty_ns=a.empty_ns,
                       auto_dedup=a.auto_dedup, lazy_pages=a.lazy_pages)


def checkpoint_options(a: SimpleNamespace) -> CheckpointOptions:
    """From the CLI's parsed flags."""
    return CheckpointOptions(criu=_criu_options(a), leave_running=a.leave_running,
                             pre_dump=a.pre_dump, parent_path=a.parent_path,
                             status_fd=a.status_fd, page_server=a.page_server)


def restore_options(a: SimpleNamespace, systemd_cgroup: bool = False) -> RestoreOptions:
    return RestoreOptions(criu=_criu_options(a), bundle=a.bundle, detach=a.detach,
                          pid_file=a.pid_file, console_socket=a.console_socket,
                          no_pivot=a.no_pivot, no_subreaper=a.no_subreaper,
                          systemd_cgroup=systemd_cgroup, lsm_profile=a.lsm_profile,
                          lsm_mount_context=a.lsm_mount_context)


def check_parent_path(image_path: str, parent_path: str | None) -> None:
    """``--parent-path`` names the pre-dump images, relative to ``--image-path``."""
    if not parent_path:
        return
    if os.path.isabs(parent_path):
        raise InvalidArgument(f"--parent-path {parent_path} must be relative (to --image-path)")
    real = os.path.normpath(os.path.join(image_path, parent_path))
    if not os.path.isdir(real):
        what = "not a directory" if os.path.exists(real) else "no such file or directory"
        raise InvalidArgument(f"invalid --parent-path {parent_path}: {real}: {what}")


def _paths(o: CriuOptions) -> tuple[str, str]:
    image = os.path.abspath(o.image_path or os.path.join(os.getcwd(), "checkpoint"))
    return image, os.path.abspath(o.work_path or image)


def _common(o: CriuOptions, image: str, work: str, mounts: dict[str, str]) -> A.Common:
    """Validate the shared flags (one line naming the flag and value)."""
    mode = o.manage_cgroups_mode or "soft"
    if mode not in A.MANAGE_CGROUPS_MODES:
        raise InvalidArgument(f"invalid --manage-cgroups-mode {mode!r}: must be one of "
                              + ", ".join(A.MANAGE_CGROUPS_MODES))
    empty = ["net"]  # runc never restores the network namespace's contents
    if o.empty_ns and A.EMPTY_NS.get(o.empty_ns) is None:
        raise InvalidArgument(f"invalid --empty-ns {o.empty_ns!r}: criu can only leave "
                              "the network namespace empty")
    return A.Common(image_dir=image, work_dir=work, tcp_established=o.tcp_established,
                    ext_unix_sk=o.ext_unix_sk, shell_job=o.shell_job, file_locks=o.file_locks,
                    manage_cgroups_mode=mode, empty_ns=empty, auto_dedup=o.auto_dedup,
                    lazy_pages=o.lazy_pages, external_mounts=mounts)


def _is_bind(m: S.Mount) -> bool:
    opts = m.options or ()
    return m.type == "bind" or "bind" in opts or "rbind" in opts


def external_mounts(spec: S.Spec | None, bundle: str, cgroup: dict[str, Any] | None,
                    rootfs: str | None = None) -> dict[str, str]:
    """Container mount point -> host path, for every mount criu must not dump:
    bind mounts (their source), and the container's own cgroup directories bound
    by a ``cgroup`` mount without a cgroup namespace (``cgroup``: the manager's
    recorded state -- the dumped container's, or on restore the new one's).  The
    mount point is the destination as resolved inside ``rootfs`` (a symlinked
    destination is mounted where the link points, and criu keys it there)."""
    if spec is None:
        return {}
    cgroupns = "cgroup" in S.namespaces(spec)
    out: dict[str, str] = {}
    with _Resolver(rootfs) as where:
        for m in spec.mounts or ():
            if m.type in ("cgroup", "cgroup2") and not cgroupns:
                dest = where(m.destination)
                for sub, host in cgroup_binds(cgroup).items():
                    out[dest.rstrip("/") + sub if sub else dest] = host
            elif _is_bind(m) and m.source:
                out[where(m.destination)] = os.path.join(bundle, m.source)
    return out


def cgroup_binds(cgroup: dict[str, Any] | None) -> dict[str, str]:
    """What a ``cgroup`` mount binds, below its destination -> host directory: on
    cgroup v2 the container's directory at the destination itself; on v1 a tmpfs
    (dumped by criu as it is) holding one bind per hierarchy (``/cpu,cpuacct``,
    ``/unified``...), each external, as runc declares them."""
    if not cgroup:
        return {}
    driver = cgroup.get("driver", "v1")
    if driver == "systemd":
        return cgroup_binds(cgroup.get("inner"))
    if driver == "v2":
        d = cgroup.get("dir")
        return {"": d} if isinstance(d, str) and d else {}
    dirs = cgroup.get("dirs") or {}
    return {f"/{name}": d for name, d in sorted(dirs.items())
            if isinstance(d, str) and d and name and "/" not in name}


class _Resolver:
    """``where(dest)``: the symlink-free form of a destination inside the rootfs
    (the destination itself when the rootfs can't be opened or the walk fails)."""

    def __init__(self, rootfs: str | None) -> None:
        self.fd = -1
        if rootfs:
            with suppress(OSError):
                self.fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def __enter__(self) -> Callable[[str], str]:
        return self.where

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)

    def where(self, dest: str) -> str:
        if self.fd < 0:
            return dest
        from ..kernel import paths

        try:
            return paths.resolve(self.fd, dest)
        except OSError:
            return dest


EXTERNAL_NS = {"network": ("net", "extRootNetNS"), "pid": ("pid", "extRootPidNS")}


def external_namespaces(spec: S.Spec | None) -> dict[str, str]:
    """criu key -> path of the network/pid namespaces the config joins (``path``):
    criu leaves them alone at dump (``--external net[INODE]:KEY``) and the restore
    puts the tree back into them (``--inherit-fd``), as runc does."""
    if spec is None:
        return {}
    out = {}
    for kind, path in S.namespaces(spec).items():
        if path and kind in EXTERNAL_NS:
            out[EXTERNAL_NS[kind][1]] = path
    return out


def _dump_external_ns(spec: S.Spec | None) -> list[str]:
    out = []
    for kind, path in (S.namespaces(spec) if spec else {}).items():
        if path and kind in EXTERNAL_NS:
            try:
                ino = os.stat(path).st_ino
            except OSError as exc:
                raise InvalidArgument(f"namespace {kind} path {path}: {exc.strerror}") from None
            name, key = EXTERNAL_NS[kind]
            out.append(f"{name}[{ino}]:{key}")
    return out


def _bundle_spec(bundle: str) -> S.Spec | None:
    try:
        return S.load_config(bundle)
    except Exception:  # a bundle changed or gone since create: no external mounts known
        return None


# -- checkpoint ----------------------------------------------------------------


async def checkpoint(store: Store, container_id: str, opts: CheckpointOptions,
                     criu: str = "criu") -> None:
    from ..kernel.criu import binary, run
    from ..kernel.criu.argv import Dump, dump_argv

    st = load_checked(store, container_id)
    if st.status not in ("running", "paused"):
        raise ContainerNotRunning(container_id, st.status)
    image, work = _paths(opts.criu)
    check_parent_path(image, opts.parent_path)
    if opts.status_fd >= 0:
        try:
            os.fstat(opts.status_fd)
        except OSError:
            raise InvalidArgument(f"invalid --status-fd {opts.status_fd}: not an open file "
                                  "descriptor") from None
    spec = _bundle_spec(st.bundle)
    common = _common(opts.criu, image, work,
                     external_mounts(spec, st.bundle, st.cgroup, st.rootfs))
    external_ns = _dump_external_ns(spec)
    exe = binary.locate(criu)
    for d in (image, work):
        os.makedirs(d, 0o700, exist_ok=True)
    with store.lock(container_id):
        st = load_checked(store, container_id, locked=True)
        if st.status not in ("running", "paused"):
            raise ContainerNotRunning(container_id, st.status)
        # criu's RPC where runc's behaviour needs it: a console (its master is outside
        # the tree: orphan-pts-master), a criu config file runc would pass
        # (org.criu.config, /etc/criu/runc.conf: applied over criu's defaults).  A
        # pre-dump saves memory only, and lazy pages are timed (runc's checkpoint.bats
        # gives the page server 2 s to say it is ready on --status-fd): the command
        # line, which needs neither protobuf nor criu's rpc_pb2 to be imported.
        use_rpc = not opts.pre_dump and (bool(run.tty_keys(st.pid))
                                         or _config_applies(st.annotations))
        if use_rpc:
            from ..kernel.criu import rpc as criu_rpc

            rpc = criu_rpc.load()  # no protobuf / pycriu: one line, before anything
        if not opts.pre_dump:
            _write_descriptors(image, run.stdio_keys(st.pid))
        dump = Dump(pid=st.pid, common=common, leave_running=opts.leave_running,
                    pre_dump=opts.pre_dump, parent_dir=opts.parent_path,
                    status_fd=opts.status_fd, page_server=opts.page_server,
                    external=external_ns)
        try:
            if use_rpc:
                _dump_rpc(exe, rpc, dump, st.annotations, image, work)
            else:
                run.run(dump_argv(exe, dump), "pre-dump" if opts.pre_dump else "dump",
                        os.path.join(work, "dump.log"),
                        pass_fds=(opts.status_fd,) if opts.status_fd >= 0 else ())
        except CriuError:
            binary.ready(exe)  # criu that can't work here at all: say that, in its words
            raise
    if opts.criu.lazy_pages and not (opts.leave_running or opts.pre_dump):
        # The last page has moved: the lazily restored copy may already run in the same
        # cgroup (its config's cgroupsPath); forget this one without killing that one.
        _forget(store, container_id)
    elif not (opts.leave_running or opts.pre_dump):
        from .delete import delete

        # criu killed the processes: the container is stopped, and gone as in runc.
        await delete(store, container_id, force=True)


def _forget(store: Store, container_id: str) -> None:
    """Remove a dumped container's state; its cgroup only if nothing lives there.
    Then its poststop hooks, as ``delete`` (and runc's destroy after any dump)."""
    from ..kernel import cgroups
    from .start import run_logged_hooks

    with store.lock(container_id):
        st = load_checked(store, container_id, locked=True)
        if st.cgroup:
            cg = cgroups.from_state(st.cgroup)
            with suppress(OSError):
                if not cg.pids():
                    cg.destroy()
        store.remove_dir(container_id)
    run_logged_hooks("poststop", st, "stopped")


def _open_dirs(image: str, work: str) -> tuple[int, int]:
    """criu's RPC takes directories as the caller's fds (it opens /proc/PID/fd/N)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
    images_fd = os.open(image, flags)
    try:
        return images_fd, os.open(work, flags)
    except BaseException:
        os.close(images_fd)
        raise


def _dump_rpc(exe: str, rpc: Any, dump: Any, annotations: dict[str, str] | None,
              image: str, work: str) -> None:
    """The dump over ``criu swrk`` (see ``use_rpc`` in checkpoint)."""
    from ..kernel.criu import request, swrk

    images_fd, work_fd = _open_dirs(image, work)
    try:
        req = request.dump_request(rpc, dump, images_fd, work_fd,
                                   A.config_file(annotations))
        swrk.call(exe, rpc, req, "dump", os.path.join(work, "dump.log"))
    finally:
        os.close(images_fd)
        os.close(work_fd)


def _write_descriptors(image: str, keys: list[str]) -> None:
    from .. import _json as json

    path = os.path.join(image, DESCRIPTORS)
    with open(path, "wb") as f:
        f.write(json.dumps(keys).encode())
    os.chmod(path, 0o600)


def _read_descriptors(image: str) -> list[str]:
    from .. import _json as json

    path = os.path.join(image, DESCRIPTORS)
    try:
        with open(path, "rb") as f:
            keys = json.loads(f.read())
    except FileNotFoundError:
        raise InvalidArgument(f"--image-path {image}: no {DESCRIPTORS}: not a checkpoint "
                              "(made by `checkpoint` without --pre-dump)") from None
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"--image-path {image}: {DESCRIPTORS}: {exc}") from None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise InvalidArgument(f"--image-path {image}: {DESCRIPTORS}: not a list of strings")
    return keys


# -- restore -------------------------------------------------------------------


async def restore(store: Store, container_id: str, opts: RestoreOptions,
                  criu: str = "criu") -> int:
    """Restore ``container_id`` from the images; returns the exit status to use
    (0 when detached, else the restored init's)."""
    st = restore_detached(store, container_id, opts, criu)
    if opts.detach:
        return 0
    return await _wait_and_delete(store, st, opts)


def restore_detached(store: Store, container_id: str, opts: RestoreOptions,
                     criu: str = "criu") -> ContainerState:
    """The restore itself; the init is our child (criu's sibling) when it returns."""
    st, master = restore_with_console(store, container_id, opts, criu)
    if master is not None:
        os.close(master)
    return st


def restore_with_console(store: Store, container_id: str, opts: RestoreOptions,
                         criu: str = "criu") -> tuple[ContainerState, int | None]:
    """As restore_detached; with ``opts.relay_terminal`` a terminal container's new
    pty master is returned (ours to close) instead of going to a console socket."""
    from ..kernel import cgroups
    from ..kernel.criu import binary
    from ..kernel.criu.argv import Restore
    from .create import CreateOptions, preflight

    check_id(container_id)
    if store.exists(container_id):
        raise ContainerExists(container_id)
    image, work = _paths(opts.criu)
    if not os.path.isdir(image):
        raise InvalidArgument(f"--image-path {image}: no such directory")
    bundle = os.path.abspath(opts.bundle)
    spec = preflight(bundle, CreateOptions(bundle=bundle, console_socket=opts.console_socket,
                                           no_pivot=opts.no_pivot,
                                           systemd_cgroup=opts.systemd_cgroup,
                                           relay_terminal=opts.relay_terminal))
    assert spec.process is not None
    _common(opts.criu, image, work, {})  # flag errors before anything is made
    rpc = None
    if needs_rpc(spec):
        from ..kernel.criu import rpc as criu_rpc

        rpc = criu_rpc.load()  # no protobuf / pycriu: one line, before anything is made
    keys = _read_descriptors(image)
    exe = binary.locate(criu)
    os.makedirs(work, 0o700, exist_ok=True)
    linux = spec.linux or S.Linux()
    store.make_dir(container_id)
    lock = store.lock(container_id)
    lock.__enter__()
    made: dict[str, Any] = {}
    try:
        cg = cgroups.new_manager(container_id, linux.cgroups_path, systemd=opts.systemd_cgroup)
        made["cg"] = cg
        from ..state import write_init_record

        write_init_record(store, container_id, {"cgroup": cg.to_state(), "cgroup_made": False,
                                                "pid": 0, "init_start_time": 0, "hooks": []})
        cg.create()
        write_init_record(store, container_id, {"cgroup": cg.to_state(), "cgroup_made": True,
                                                "pid": 0, "init_start_time": 0, "hooks": []})
        cg.set(linux.resources, devices=list(linux.devices or ()))
        st = _run_restore(store, container_id, spec, bundle, opts, exe, keys,
                          Restore, cg, image, work, made, rpc)
        if opts.pid_file:
            from .create import write_pid_file

            write_pid_file(opts.pid_file, st.pid)
        return st, made.pop("console", None)
    except BaseException:
        _undo(store, container_id, made)
        raise
    finally:
        lock.__exit__(None, None, None)


def _config_applies(annotations: dict[str, str] | None) -> bool:
    path = A.config_file(annotations)
    return path is not None and os.path.exists(path)


def needs_rpc(spec: S.Spec) -> bool:
    """Restore over criu's RPC when its command line can't do the job: a terminal
    (the new pty master comes back as an fd), hooks to run once the restored
    namespaces exist (criu's setup-namespaces notification, as runc does), or a
    criu configuration file runc would pass (applied over criu's defaults)."""
    hooks = spec.hooks
    return bool((spec.process is not None and spec.process.terminal)
                or (hooks is not None and (hooks.prestart or hooks.create_runtime))
                or _config_applies(spec.annotations))


def _run_restore(store: Store, container_id: str, spec: S.Spec, bundle: str,
                 opts: RestoreOptions, exe: str, keys: list[str], restore_cls: Any, cg: Any,
                 image: str, work: str, made: dict[str, Any], rpc: Any = None) -> ContainerState:
    from ..kernel.criu import mountpoints
    from ..kernel.criu import root as criu_root
    from ..state import ContainerState, proc_start_time, write_init_record
    from .create import _saved_config, rfc3339_now

    cdir = store.dir(container_id)
    rootfs = S.rootfs_path(spec, bundle)
    cg_state = cg.to_state()
    root = criu_root.bind(rootfs, os.path.join(cdir, "criu-root"))
    made["root"] = root
    pidfile = os.path.join(cdir, "criu.pid")
    # The init's stdio pipes, re-attached to copies of our own fds 0-2.
    inherit: dict[int, str] = {}
    copies: list[int] = []
    try:
        for i, key in enumerate(keys[:3]):
            if key.startswith("pipe:"):
                fd = os.dup(i)
                copies.append(fd)
                inherit[fd] = key
        for key, path in external_namespaces(spec).items():
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise InvalidArgument(f"the namespace to restore into, {path}: "
                                      f"{exc.strerror}") from None
            copies.append(fd)
            inherit[fd] = key
        cgroup_path = cg_state.get("path") if cg_state.get("driver") == "v2" else None
        req = restore_cls(common=_common(opts.criu, image, work,
                                         external_mounts(spec, bundle, cg_state, rootfs)),
                          root=root, pidfile=pidfile, cgroup_root=cgroup_path,
                          inherit_fds=inherit, lsm_profile=opts.lsm_profile,
                          lsm_mount_context=opts.lsm_mount_context)
        # criu enters the new cgroup before it forks anything: the tree is born there.
        try:
            with mountpoints.Prepared(rootfs, _mount_kinds(spec, bundle)):
                _criu_restore(exe, rpc, req, spec, container_id, bundle, rootfs, opts, cg,
                              image, work, copies, made)
        except CriuError:
            from ..kernel.criu import binary

            binary.ready(exe)  # criu that can't work here at all: say that, in its words
            raise
    finally:
        for fd in copies:
            os.close(fd)
        criu_root.unbind(made.pop("root"))  # the restored mount namespace has its own
    if rpc is None:
        with open(pidfile) as f:
            made["pid"] = int(f.read().strip())
    pid = made["pid"]
    info = proc_start_time(pid)
    if info is None:
        raise CriuError(f"restore: the restored init (pid {pid}) exited at once")
    cg_saved = cg.to_state()
    if opts.criu.lazy_pages:
        from ..kernel.cgroups import assume_created

        # The dumped original (same cgroupsPath) made the leaf and leaves it to us
        # once its last page moved (checkpoint's _forget): deleting us removes it.
        cg_saved = assume_created(cg_saved)
    write_init_record(store, container_id, {"cgroup": cg_saved, "cgroup_made": True,
                                            "pid": pid, "init_start_time": info[0],
                                            "hooks": []})
    st = ContainerState(id=container_id, pid=pid, bundle=bundle, rootfs=rootfs,
                        created=rfc3339_now(), init_start_time=info[0],
                        annotations=dict(spec.annotations or {}),
                        oci_version=spec.oci_version, status="running",
                        config=_saved_config(spec), cgroup=cg_saved,
                        systemd_cgroup=opts.systemd_cgroup)
    store.save(st)
    return st


def _mount_kinds(spec: S.Spec, bundle: str) -> list[tuple[str, str, str]]:
    out = []
    for m in spec.mounts or ():
        kind = ("bind" if _is_bind(m) and m.source else "cgroup" if m.type in ("cgroup", "cgroup2")
                else "tmpfs" if m.type == "tmpfs" else "other")
        out.append((m.destination, os.path.join(bundle, m.source or ""), kind))
    return out


def _criu_restore(exe: str, rpc: Any, req: Any, spec: S.Spec, container_id: str, bundle: str,
                  rootfs: str, opts: RestoreOptions, cg: Any, image: str, work: str,
                  copies: list[int], made: dict[str, Any]) -> None:
    from ..kernel.criu import run
    from ..kernel.criu.argv import restore_argv

    if rpc is not None:
        made["pid"] = _restore_rpc(exe, rpc, req, spec, container_id, bundle, rootfs, opts, cg,
                                   image, work, copies, made)
    else:
        run.run(restore_argv(exe, req), "restore", os.path.join(work, "restore.log"),
                pass_fds=copies, before_exec=lambda: cg.apply(os.getpid()))


def _restore_rpc(exe: str, rpc: Any, req: Any, spec: S.Spec, container_id: str, bundle: str,
                 rootfs: str, opts: RestoreOptions, cg: Any, image: str, work: str,
                 copies: list[int], made: dict[str, Any]) -> int:
    """The restore over ``criu swrk``; returns the restored init's pid (our child).

    criu's notifications, as runc handles them: ``setup-namespaces`` runs the
    prestart and createRuntime hooks (state "creating", the restored init's pid),
    ``orphan-pts-master`` carries the new console master, which goes to
    ``--console-socket`` as at create, ``post-restore`` names the pid.
    """
    from ..kernel.criu import request, swrk
    from ..state import ContainerState
    from .create import rfc3339_now

    seen: dict[str, int] = {}

    def on_notify(script: str, pid: int, fds: list[int]) -> None:
        if script == "orphan-pts-master":
            if len(fds) != 1:
                raise CriuError(f"criu restore: the orphan-pts-master notification carried "
                                f"{len(fds)} fds, not one pty master")
            if opts.relay_terminal and not opts.console_socket:
                made["console"] = os.dup(fds[0])
                return
            if not opts.console_socket:
                raise CriuError("restore of a terminal container needs --console-socket")
            from ..kernel.console import send_console

            try:
                send_console(opts.console_socket, fds[0], "orphan-pts-master")
            except OSError as exc:
                why = os.strerror(exc.errno) if exc.errno else ""
                raise CriuError(f"restore: {exc.strerror}: {why}".rstrip(": ")) from None
        elif script == "setup-namespaces" and spec.hooks is not None:
            from ..kernel.hooks import HookError
            from . import hooks as H

            st = ContainerState(id=container_id, pid=pid, bundle=bundle, rootfs=rootfs,
                                created=rfc3339_now(), init_start_time=0,
                                annotations=dict(spec.annotations or {}),
                                oci_version=spec.oci_version, status="creating")
            try:
                H.run_fatal("prestart", spec.hooks, "prestart", st, "creating")
                H.run_fatal("createRuntime", spec.hooks, "create_runtime", st, "creating")
            except HookError as exc:
                raise CriuError(f"restore: {exc}") from None
        elif script == "post-restore":
            seen["pid"] = pid

    images_fd, work_fd = _open_dirs(image, work)
    try:
        msg = request.restore_request(rpc, req, images_fd, work_fd,
                                      A.config_file(spec.annotations))
        reply = swrk.call(exe, rpc, msg, "restore", os.path.join(work, "restore.log"),
                          notify=on_notify, pass_fds=copies,
                          before_exec=lambda: cg.apply(os.getpid()))
    finally:
        os.close(images_fd)
        os.close(work_fd)
    pid = reply.pid or seen.get("pid", 0)
    if pid <= 0:
        raise CriuError("criu restore: criu swrk reported success but no restored pid")
    return pid


def _undo(store: Store, container_id: str, made: dict[str, Any]) -> None:
    """A failed or cancelled restore leaves nothing: process, mount, cgroup, directory."""
    from ..kernel.signals import SIGKILL

    if made.get("console") is not None:
        os.close(made.pop("console"))
    pid = made.get("pid")
    if pid:
        with suppress(ProcessLookupError):
            os.kill(pid, SIGKILL)
        with suppress(ChildProcessError):
            os.waitpid(pid, 0)
    if "root" in made:
        from ..kernel.criu import root as criu_root

        criu_root.unbind(made.pop("root"))
    cg = made.get("cg")
    if cg is not None:
        with suppress(Exception):
            cg.destroy()
    store.remove_dir(container_id)


async def _wait_and_delete(store: Store, st: ContainerState, opts: RestoreOptions) -> int:
    """Foreground restore: wait for the restored init (our child), then delete it."""
    from .delete import delete

    if not opts.no_subreaper:
        from ..kernel import syscalls as sc

        sc.set_subreaper()
    while True:
        try:
            _, status = os.waitpid(st.pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            status = 0
            break
    code = os.waitstatus_to_exitcode(status)
    await delete(store, st.id, force=True)
    return 128 - code if code < 0 else code
