"""criu's RPC request (``criu_req``) for a dump or restore, from argv.py's records.

The same choices as the command line (argv.py), in the fields criu's
``rpc.proto`` names, so a dump or restore means the same whichever way criu is
driven.  What only the RPC has, and why it is set:

- ``orphan_pts_master``: a container's console is a pty whose master is outside
  the dumped tree (it went to ``--console-socket``).  criu dumps the slave alone
  and, on restore, opens a new master in the restored devpts and sends it back
  as an ``orphan-pts-master`` notification carrying the fd (runc does the same);
- ``notify_scripts``: criu stops at ``setup-namespaces`` (the restored init's
  namespaces exist: time for prestart/createRuntime hooks) and ``post-restore``;
- ``config_file``: runc's per-container criu configuration (the
  ``org.criu.config`` annotation, else ``/etc/criu/runc.conf`` when present);
- directories are passed as fds of the caller (criu opens ``/proc/PID/fd/N``)
  and ``inherit_fd`` numbers are criu's own fds.
"""

from __future__ import annotations

from .argv import Common, Dump, Restore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

CLONE_NEWNET = 0x40000000
_EMPTY_NS_FLAGS = {"net": CLONE_NEWNET}


def _common(rpc: ModuleType, o: Any, c: Common, images_fd: int, work_fd: int,
            log_name: str, config: str | None) -> None:
    o.images_dir_fd = images_fd
    o.work_dir_fd = work_fd
    o.log_file = log_name
    o.log_level = 4
    o.manage_cgroups = True
    o.manage_cgroups_mode = getattr(rpc, c.manage_cgroups_mode.upper())
    o.notify_scripts = True
    o.orphan_pts_master = True
    for name in ("tcp_established", "ext_unix_sk", "shell_job", "file_locks", "auto_dedup",
                 "lazy_pages"):
        if getattr(c, name):
            setattr(o, name, True)
    flags = 0
    for ns in c.empty_ns:
        flags |= _EMPTY_NS_FLAGS[ns]
    if flags:
        o.empty_ns = flags
    if config:
        o.config_file = config


def dump_request(rpc: ModuleType, d: Dump, images_fd: int, work_fd: int,
                 config: str | None = None) -> Any:
    """A ``DUMP`` (or ``PRE_DUMP``) request, as argv.dump_argv's command line."""
    req = rpc.criu_req(type=rpc.PRE_DUMP if d.pre_dump else rpc.DUMP)
    o = req.opts
    _common(rpc, o, d.common, images_fd, work_fd, "dump.log", config)
    o.pid = d.pid
    if d.pre_dump:
        o.track_mem = True
    else:
        o.external.extend(f"mnt[{key}]:{key}" for key in d.common.external_mounts)
        o.external.extend(d.external)
    if d.leave_running and not d.pre_dump:
        o.leave_running = True
    if d.parent_dir:
        o.parent_img = d.parent_dir
        o.track_mem = True
    if d.status_fd >= 0:
        o.status_fd = d.status_fd
    if d.page_server:
        address, _, port = d.page_server.rpartition(":")
        o.ps.address = address
        o.ps.port = int(port)
    if d.freeze_cgroup:
        o.freeze_cgroup = d.freeze_cgroup
    return req


def restore_request(rpc: ModuleType, r: Restore, images_fd: int, work_fd: int,
                    config: str | None = None) -> Any:
    """A ``RESTORE`` request, as argv.restore_argv's command line; the restored
    init becomes the caller's child (``rst_sibling``) and its pid comes back in
    the reply (no pidfile)."""
    req = rpc.criu_req(type=rpc.RESTORE)
    o = req.opts
    _common(rpc, o, r.common, images_fd, work_fd, "restore.log", config)
    o.root = r.root
    o.rst_sibling = True
    o.evasive_devices = True
    o.external.extend(f"mnt[{key}]:{path}" for key, path in r.common.external_mounts.items())
    if r.cgroup_root and r.common.manage_cgroups_mode != "ignore":
        o.cg_root.add(path=r.cgroup_root)
    for fd, key in sorted(r.inherit_fds.items()):
        o.inherit_fd.add(fd=fd, key=key)
    if r.lsm_profile:
        o.lsm_profile = r.lsm_profile
    if r.lsm_mount_context:
        o.lsm_mount_context = r.lsm_mount_context
    return req
