"""criu's command line for a dump or a restore, built from plain options.

The choices that make a container's checkpoint restorable (runc's, as criu(8)
names them):

- bind mounts are *external*: criu records the mount point as a key instead of
  trying to dump a host directory it can't see, and the restore maps the key to
  the source again (``--external mnt[KEY]:PATH``); a bind-mounted cgroup
  directory maps to the new container's own cgroup directory;
- the network namespace is dumped and restored empty (``--empty-ns net``): the
  runtime does not own the container's interfaces, whoever configured them
  (CNI, an engine) does it again;
- the restored tree is a sibling of criu (``--restore-sibling``), so its init
  becomes the runtime's child, and criu leaves once it runs
  (``--restore-detached``), with its pid in ``--pidfile``;
- pipes on the init's stdio are re-attached to the restoring process's own fds
  (``--inherit-fd fd[N]:pipe:[INODE]``), the rest of the tree keeps its files.
"""

from __future__ import annotations

from ..._record import field, record

MANAGE_CGROUPS_MODES = ("soft", "full", "strict", "ignore")
EMPTY_NS = {"network": "net"}  # runc's name -> criu's; criu empties only this one


@record
class Common:
    """Options shared by dump and restore (runc's flags of both commands)."""

    image_dir: str
    work_dir: str
    tcp_established: bool = False
    ext_unix_sk: bool = False
    shell_job: bool = False
    file_locks: bool = False
    manage_cgroups_mode: str = "soft"
    empty_ns: list[str] = field(default_factory=lambda: ["net"])
    auto_dedup: bool = False
    lazy_pages: bool = False
    # mount point (in the container) -> what it maps to (restore: a host path)
    external_mounts: dict[str, str] = field(default_factory=dict)


@record
class Dump:
    pid: int
    common: Common
    leave_running: bool = False
    pre_dump: bool = False
    parent_dir: str | None = None   # relative to image_dir, as criu wants it
    status_fd: int = -1
    page_server: str | None = None  # ADDRESS:PORT
    freeze_cgroup: str | None = None
    external: list[str] = field(default_factory=list)  # e.g. net[INODE]:extRootNetNS


@record
class Restore:
    common: Common
    root: str                       # where the container's rootfs is bind-mounted
    pidfile: str
    cgroup_root: str | None = None  # the new container's cgroup path, for every controller
    inherit_fds: dict[int, str] = field(default_factory=dict)  # our fd -> criu's file key
    lsm_profile: str | None = None        # TYPE:NAME, e.g. apparmor:foo (runc's --lsm-profile)
    lsm_mount_context: str | None = None  # SELinux context for the restored mounts


RUNC_CONFIG = "/etc/criu/runc.conf"   # runc's default per-runtime criu configuration
CONFIG_ANNOTATION = "org.criu.config"


def config_file(annotations: dict[str, str] | None) -> str | None:
    """runc's choice of a criu configuration file: the ``org.criu.config``
    annotation's ("" = none at all), else runc.conf.  Passed over the RPC only;
    its presence is what makes ops/checkpoint choose the RPC."""
    if annotations and CONFIG_ANNOTATION in annotations:
        return annotations[CONFIG_ANNOTATION] or None
    return RUNC_CONFIG


def _common(c: Common, log_name: str) -> list[str]:
    argv = ["--images-dir", c.image_dir, "--work-dir", c.work_dir, "--log-file", log_name,
            "-v4", f"--manage-cgroups={c.manage_cgroups_mode}"]
    for flag, on in (("--tcp-established", c.tcp_established), ("--ext-unix-sk", c.ext_unix_sk),
                     ("--shell-job", c.shell_job), ("--file-locks", c.file_locks),
                     ("--auto-dedup", c.auto_dedup), ("--lazy-pages", c.lazy_pages)):
        if on:
            argv.append(flag)
    for ns in c.empty_ns:
        argv += ["--empty-ns", ns]
    return argv


def dump_argv(exe: str, d: Dump) -> list[str]:
    argv = [exe, "pre-dump" if d.pre_dump else "dump", "--tree", str(d.pid),
            *_common(d.common, "dump.log")]
    if d.pre_dump:
        argv.append("--track-mem")
    else:
        for key in d.common.external_mounts:
            argv += ["--external", f"mnt[{key}]:{key}"]
        for ext in d.external:
            argv += ["--external", ext]
    if d.leave_running and not d.pre_dump:
        argv.append("--leave-running")
    if d.parent_dir:
        argv += ["--prev-images-dir", d.parent_dir, "--track-mem"]
    if d.status_fd >= 0:
        argv += ["--status-fd", str(d.status_fd)]
    if d.page_server:
        address, _, port = d.page_server.rpartition(":")
        # Lazy: criu itself serves the pages on ADDRESS:PORT (as over RPC, where
        # lazy_pages turns ps into the listening address); else it sends them there.
        argv += [*(() if d.common.lazy_pages else ("--page-server",)),
                 "--address", address, "--port", port]
    if d.freeze_cgroup:
        argv += ["--freeze-cgroup", d.freeze_cgroup]
    return argv


def restore_argv(exe: str, r: Restore) -> list[str]:
    argv = [exe, "restore", *_common(r.common, "restore.log"), "--root", r.root,
            "--restore-detached", "--restore-sibling", "--pidfile", r.pidfile,
            "--evasive-devices"]
    for key, path in r.common.external_mounts.items():
        argv += ["--external", f"mnt[{key}]:{path}"]
    if r.cgroup_root and r.common.manage_cgroups_mode != "ignore":
        argv += ["--cgroup-root", r.cgroup_root]
    for fd, key in sorted(r.inherit_fds.items()):
        argv += ["--inherit-fd", f"fd[{fd}]:{key}"]
    if r.lsm_profile:
        argv += ["--lsm-profile", r.lsm_profile]
    if r.lsm_mount_context:
        argv += ["--lsm-mount-context", r.lsm_mount_context]
    return argv
