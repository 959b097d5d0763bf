"""The OCI runtime configuration: typed, validated once, before anything is created.

``load_config`` decodes ``config.json`` into the structs below (runcgo._struct);
decode errors carry the JSON path (``$.process.user.uid``).  ``validate``
then checks the values the types can't express (absolute paths, known
namespace types, ...).  Unknown *fields* are tolerated and kept in the raw
document (round-trip); unknown *values* in known fields are errors.
"""

from __future__ import annotations

import os

from ._struct import Struct, StructError, field
from ._struct import decode as _decode_struct
from .errors import ConfigError
from .version import SPEC_VERSION

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any


class _S(Struct):
    """Base for spec structs: camelCase keys, fields at their default omitted on encode."""


class Box(_S):
    height: int = 0
    width: int = 0


class User(_S):
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: list[int] | None = None
    username: str | None = None


class LinuxCapabilities(_S):
    bounding: list[str] | None = None
    effective: list[str] | None = None
    inheritable: list[str] | None = None
    permitted: list[str] | None = None
    ambient: list[str] | None = None


class POSIXRlimit(_S):
    type: str
    hard: int
    soft: int


class Scheduler(_S):
    policy: str
    nice: int = 0
    priority: int = 0
    flags: list[str] | None = None
    runtime: int = 0
    deadline: int = 0
    period: int = 0


class IOPriority(_S):
    class_: str = field(name="class")
    priority: int = 0


class CPUAffinity(_S):
    initial: str | None = None
    final: str | None = None


class Process(_S):
    cwd: str = "/"
    args: list[str] | None = None
    env: list[str] | None = None
    terminal: bool = False
    console_size: Box | None = None
    user: User = field(default_factory=User)
    command_line: str | None = None
    capabilities: LinuxCapabilities | None = None
    rlimits: list[POSIXRlimit] | None = None
    no_new_privileges: bool = False
    apparmor_profile: str | None = None
    oom_score_adj: int | None = None
    selinux_label: str | None = None
    scheduler: Scheduler | None = None
    io_priority: IOPriority | None = None
    exec_cpu_affinity: CPUAffinity | None = field(default=None, name="execCPUAffinity")


class Root(_S):
    path: str
    readonly: bool = False


class IDMapping(_S):
    container_id: int = field(name="containerID")
    host_id: int = field(name="hostID")
    size: int


class Mount(_S):
    destination: str
    type: str | None = None
    source: str | None = None
    options: list[str] | None = None
    uid_mappings: list[IDMapping] | None = None
    gid_mappings: list[IDMapping] | None = None


class Hook(_S):
    path: str
    args: list[str] | None = None
    env: list[str] | None = None
    timeout: int | None = None


class Hooks(_S):
    prestart: list[Hook] | None = None
    create_runtime: list[Hook] | None = None
    create_container: list[Hook] | None = None
    start_container: list[Hook] | None = None
    poststart: list[Hook] | None = None
    poststop: list[Hook] | None = None


class LinuxNamespace(_S):
    type: str
    path: str | None = None


class LinuxDevice(_S):
    path: str
    type: str
    major: int = 0
    minor: int = 0
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


class LinuxDeviceCgroup(_S):
    allow: bool
    type: str | None = None
    major: int | None = None
    minor: int | None = None
    access: str | None = None


class LinuxMemory(_S):
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    kernel: int | None = None
    kernel_tcp: int | None = field(default=None, name="kernelTCP")
    swappiness: int | None = None
    disable_oom_killer: bool | None = field(default=None, name="disableOOMKiller")
    use_hierarchy: bool | None = None
    check_before_update: bool | None = None


class LinuxCPU(_S):
    shares: int | None = None
    quota: int | None = None
    burst: int | None = None
    period: int | None = None
    realtime_runtime: int | None = None
    realtime_period: int | None = None
    cpus: str | None = None
    mems: str | None = None
    idle: int | None = None


class LinuxPids(_S):
    limit: int | None = None


class LinuxWeightDevice(_S):
    major: int
    minor: int
    weight: int | None = None
    leaf_weight: int | None = None


class LinuxThrottleDevice(_S):
    major: int
    minor: int
    rate: int


class LinuxBlockIO(_S):
    weight: int | None = None
    leaf_weight: int | None = None
    weight_device: list[LinuxWeightDevice] | None = None
    throttle_read_bps_device: list[LinuxThrottleDevice] | None = None
    throttle_write_bps_device: list[LinuxThrottleDevice] | None = None
    throttle_read_iops_device: list[LinuxThrottleDevice] | None = field(
        default=None, name="throttleReadIOPSDevice")
    throttle_write_iops_device: list[LinuxThrottleDevice] | None = field(
        default=None, name="throttleWriteIOPSDevice")


class LinuxHugepageLimit(_S):
    page_size: str
    limit: int


class LinuxInterfacePriority(_S):
    name: str
    priority: int


class LinuxNetwork(_S):
    class_id: int | None = field(default=None, name="classID")
    priorities: list[LinuxInterfacePriority] | None = None


class LinuxRdma(_S):
    hca_handles: int | None = None
    hca_objects: int | None = None


class LinuxResources(_S):
    devices: list[LinuxDeviceCgroup] | None = None
    memory: LinuxMemory | None = None
    cpu: LinuxCPU | None = None
    pids: LinuxPids | None = None
    block_io: LinuxBlockIO | None = field(default=None, name="blockIO")
    hugepage_limits: list[LinuxHugepageLimit] | None = None
    network: LinuxNetwork | None = None
    rdma: dict[str, LinuxRdma] | None = None
    unified: dict[str, str] | None = None


class LinuxSeccompArg(_S):
    index: int
    value: int
    op: str
    value_two: int = 0


class LinuxSyscall(_S):
    names: list[str]
    action: str
    errno_ret: int | None = None
    args: list[LinuxSeccompArg] | None = None


class LinuxSeccomp(_S):
    default_action: str
    default_errno_ret: int | None = None
    architectures: list[str] | None = None
    flags: list[str] | None = None
    listener_path: str | None = None
    listener_metadata: str | None = None
    syscalls: list[LinuxSyscall] | None = None


class LinuxPersonality(_S):
    domain: str
    flags: list[str] | None = None


class LinuxTimeOffset(_S):
    secs: int = 0
    nanosecs: int = 0


class LinuxMemoryPolicy(_S):
    mode: str
    nodes: str | None = None
    flags: list[str] | None = None


class LinuxIntelRdt(_S):
    clos_id: str | None = field(default=None, name="closID")
    l3_cache_schema: str | None = None
    mem_bw_schema: str | None = None
    schemata: list[str] | None = None
    enable_cmt: bool | None = field(default=None, name="enableCMT")
    enable_mbm: bool | None = field(default=None, name="enableMBM")


class LinuxNetDevice(_S):
    name: str | None = None


class Linux(_S):
    uid_mappings: list[IDMapping] | None = None
    gid_mappings: list[IDMapping] | None = None
    time_offsets: dict[str, LinuxTimeOffset] | None = None
    sysctl: dict[str, str] | None = None
    resources: LinuxResources | None = None
    cgroups_path: str | None = None
    namespaces: list[LinuxNamespace] | None = None
    devices: list[LinuxDevice] | None = None
    seccomp: LinuxSeccomp | None = None
    rootfs_propagation: str | None = None
    masked_paths: list[str] | None = None
    readonly_paths: list[str] | None = None
    mount_label: str | None = None
    personality: LinuxPersonality | None = None
    intel_rdt: LinuxIntelRdt | None = None
    memory_policy: LinuxMemoryPolicy | None = None
    net_devices: dict[str, LinuxNetDevice] | None = None


class Spec(_S):
    oci_version: str = field(name="ociVersion")
    process: Process | None = None
    root: Root | None = None
    hostname: str | None = None
    domainname: str | None = None
    mounts: list[Mount] | None = None
    hooks: Hooks | None = None
    annotations: dict[str, str] | None = None
    linux: Linux | None = None


# --- validation ------------------------------------------------------------

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
def _supported_version(v: str) -> bool:
    """1.0.x - 1.3.x, with an optional -suffix (runc writes 1.0.2-dev)."""
    core = v.split("-", 1)[0].split(".")
    return (len(core) == 3 and core[0] == "1" and core[1] in ("0", "1", "2", "3")
            and core[2].isdigit())
_RLIMITS = frozenset(
    "RLIMIT_" + n for n in ["CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE", "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"])
_ID_MAX = (1 << 32) - 2  # uid_t is 32 bits; (uid_t)-1 means "no change" to the kernel
_PROPAGATION = ("", "private", "rprivate", "slave", "rslave", "shared", "rshared",
                "unbindable", "runbindable")
_DEVICE_TYPES = ("c", "b", "u", "p")


def decode(data: bytes, kind: type[Any] = Spec, what: str = "config.json") -> Any:
    """Decode JSON bytes into ``kind`` with errors naming the JSON path."""
    try:
        return _decode_struct(data, kind)
    except StructError as exc:
        raise ConfigError(exc.reason, exc.path) from None
    except ValueError as exc:  # _json.JSONError: one line with the offset
        raise ConfigError(f"{what}: {exc}") from None


def convert(obj: Any, kind: type[Any], path: str = "$") -> Any:
    """Already-parsed JSON (e.g. saved state) into ``kind``."""
    from ._struct import from_dict

    try:
        return from_dict(kind, obj, path)
    except StructError as exc:
        raise ConfigError(exc.reason, exc.path) from None


def load_config(bundle: str) -> Spec:
    """Read, decode and validate ``<bundle>/config.json``."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    spec: Spec = decode(data)
    validate(spec, bundle)
    return spec


def _err(path: str, msg: str) -> ConfigError:
    return ConfigError(msg, path)


def validate_process(p: Process, where: str = "$.process") -> None:
    if not p.args:
        raise _err(f"{where}.args", "must contain at least one argument")
    if not p.cwd.startswith("/"):
        raise _err(f"{where}.cwd", f"{p.cwd!r} is not an absolute path")
    for i, e in enumerate(p.env or ()):
        if "=" not in e:
            raise _err(f"{where}.env[{i}]", f"{e!r} is not KEY=VALUE")
    seen: set[str] = set()
    for i, r in enumerate(p.rlimits or ()):
        if r.type not in _RLIMITS:
            raise _err(f"{where}.rlimits[{i}].type", f"unknown rlimit {r.type!r}")
        if r.type in seen:
            raise _err(f"{where}.rlimits[{i}].type", f"duplicate rlimit {r.type!r}")
        if r.soft > r.hard and r.hard >= 0:
            raise _err(f"{where}.rlimits[{i}]", f"soft limit {r.soft} exceeds hard limit {r.hard}")
        seen.add(r.type)
    if p.oom_score_adj is not None and not -1000 <= p.oom_score_adj <= 1000:
        raise _err(f"{where}.oomScoreAdj", f"{p.oom_score_adj} is outside [-1000, 1000]")
    if p.user.uid < 0 or p.user.gid < 0:
        raise _err(f"{where}.user", "uid and gid must not be negative")
    for name, value in (("uid", p.user.uid), ("gid", p.user.gid),
                        *((f"additionalGids[{i}]", g)
                          for i, g in enumerate(p.user.additional_gids or ()))):
        if not 0 <= value <= _ID_MAX:
            raise _err(f"{where}.user.{name}", f"{value} is outside [0, {_ID_MAX}]")
    if p.user.umask is not None and not 0 <= p.user.umask <= 0o7777:
        raise _err(f"{where}.user.umask", f"{p.user.umask} is not a file mode (0 to 0o7777)")


def validate(spec: Spec, bundle: str) -> None:
    """Check what the types cannot express.  Raises ConfigError naming the field."""
    if not _supported_version(spec.oci_version):
        raise _err("$.ociVersion", f"unsupported version {spec.oci_version!r} (want 1.0.x-1.3.x)")
    if spec.root is None or not spec.root.path:
        raise _err("$.root.path", "is required")
    rootfs = rootfs_path(spec, bundle)
    if not os.path.isdir(rootfs):
        raise _err("$.root.path", f"rootfs {rootfs} does not exist or is not a directory")
    if spec.process is None:
        raise _err("$.process", "is required")
    validate_process(spec.process)
    for i, m in enumerate(spec.mounts or ()):
        if not m.destination.startswith("/"):
            raise _err(f"$.mounts[{i}].destination", f"{m.destination!r} is not an absolute path")
        if ".." in m.destination.split("/"):
            raise _err(f"$.mounts[{i}].destination",
                       f"{m.destination!r} must not contain '..' (it would point outside the rootfs)")
    linux = spec.linux or Linux()
    seen: set[str] = set()
    for i, ns in enumerate(linux.namespaces or ()):
        if ns.type not in NAMESPACE_TYPES:
            raise _err(f"$.linux.namespaces[{i}].type", f"unknown namespace type {ns.type!r}")
        if ns.type in seen:
            raise _err(f"$.linux.namespaces[{i}].type", f"duplicate namespace {ns.type!r}")
        if ns.path and not ns.path.startswith("/"):
            raise _err(f"$.linux.namespaces[{i}].path", f"{ns.path!r} is not an absolute path")
        seen.add(ns.type)
    if "user" in seen:
        userns = next(n for n in linux.namespaces or () if n.type == "user")
        if not userns.path and not (linux.uid_mappings and linux.gid_mappings):
            raise _err("$.linux.uidMappings", "a new user namespace needs uidMappings and gidMappings")
    elif linux.uid_mappings or linux.gid_mappings:
        raise _err("$.linux.uidMappings", "mappings given without a user namespace")
    if spec.hostname and "uts" not in seen:
        raise _err("$.hostname", "setting a hostname needs a new uts namespace")
    if spec.domainname and "uts" not in seen:
        raise _err("$.domainname", "setting a domainname needs a new uts namespace")
    if linux.time_offsets and "time" not in seen:
        raise _err("$.linux.timeOffsets", "time offsets need a time namespace")
    for clock in linux.time_offsets or {}:
        if clock not in ("monotonic", "boottime"):
            raise _err(f"$.linux.timeOffsets.{clock}", "only monotonic and boottime can be offset")
    check_sysctls(linux.sysctl or {}, linux.namespaces or [])
    if (linux.rootfs_propagation or "") not in _PROPAGATION:
        raise _err("$.linux.rootfsPropagation", f"unknown propagation {linux.rootfs_propagation!r}")
    for i, d in enumerate(linux.devices or ()):
        if d.type not in _DEVICE_TYPES:
            raise _err(f"$.linux.devices[{i}].type", f"unknown device type {d.type!r}")
        if not d.path.startswith("/dev/"):
            raise _err(f"$.linux.devices[{i}].path", f"{d.path!r} is not under /dev")
    for attr in ("masked_paths", "readonly_paths"):
        for i, p in enumerate(getattr(linux, attr) or ()):
            if not p.startswith("/"):
                name = "maskedPaths" if attr == "masked_paths" else "readonlyPaths"
                raise _err(f"$.linux.{name}[{i}]", f"{p!r} is not an absolute path")
    if spec.hooks:
        for kind in ("prestart", "create_runtime", "create_container", "start_container",
                     "poststart", "poststop"):
            for i, h in enumerate(getattr(spec.hooks, kind) or ()):
                if not h.path.startswith("/"):
                    raise _err(f"$.hooks.{_camel(kind)}[{i}].path", f"{h.path!r} is not absolute")
                if h.timeout is not None and h.timeout <= 0:
                    raise _err(f"$.hooks.{_camel(kind)}[{i}].timeout", "must be positive")


# Sysctls that belong to the IPC namespace (besides fs.mqueue.*).
_IPC_SYSCTLS = frozenset(("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                          "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                          "kernel.shm_rmid_forced"))


def check_sysctls(sysctl: dict[str, str], nss: list[LinuxNamespace]) -> None:
    """Refuse a sysctl the container's namespaces do not isolate: writing it would
    change the HOST.  The rule and wording are runc's (its validator): IPC sysctls
    need an ipc namespace entry, ``net.*`` a network namespace (a joined one is
    checked against ours by the caller, see :func:`host_netns_sysctls`), and
    ``kernel.domainname`` a uts namespace; ``kernel.hostname`` conflicts with the
    ``hostname`` field; everything else is global to the kernel.

    Keys are also refused if they could name a path outside /proc/sys once dots
    become slashes (``/``, ``..``, empty components).
    """
    types = {ns.type for ns in nss}
    for key in sysctl:
        where = "$.linux.sysctl"
        if (not key or "/" in key or "\0" in key or key.startswith(".") or key.endswith(".")
                or ".." in key):
            raise _err(where, f"sysctl {key!r} is not a valid name (dot-separated, without "
                              "'/', '..' or empty parts)")
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if "ipc" not in types:
                raise _err(where, f'sysctl "{key}" is not allowed in the hosts ipc namespace')
        elif key.startswith("net."):
            if "network" not in types:
                raise _err(where, f'sysctl "{key}" not allowed in host network namespace')
        elif key == "kernel.domainname" and "uts" in types:
            continue
        elif key == "kernel.hostname" and "uts" in types:
            raise _err(where, f'sysctl "{key}" is not allowed as it conflicts with the OCI '
                              '"hostname" field')
        else:
            raise _err(where, f'sysctl "{key}" is not in a separate kernel namespace')


def host_netns_sysctls(spec: Spec) -> tuple[str, str] | None:
    """(first net.* sysctl, netns path) when the config joins an existing network
    namespace and sets net.* sysctls: the caller must check that namespace is not
    the host's (a /proc question, so it is kernel/'s job)."""
    linux = spec.linux or Linux()
    path = namespaces(spec).get("network")
    if not path:
        return None
    key = next((k for k in linux.sysctl or {} if k.startswith("net.")), None)
    return (key, path) if key else None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


def rootfs_path(spec: Spec, bundle: str) -> str:
    assert spec.root is not None
    p = spec.root.path
    return os.path.normpath(p if os.path.isabs(p) else os.path.join(bundle, p))


def namespaces(spec: Spec) -> dict[str, str | None]:
    """type -> path (None = create new) for the namespaces the config asks for."""
    linux = spec.linux or Linux()
    return {ns.type: (ns.path or None) for ns in linux.namespaces or ()}


def encode(obj: Any) -> bytes:
    from ._struct import encode as _encode

    return _encode(obj)


# --- the default spec (`runcgo spec`) -------------------------------------

_DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def default_spec(rootless: bool = False) -> dict[str, Any]:
    """The config ``runcgo spec`` writes: the same shape as ``runc spec``."""
    spec: dict[str, Any] = {
        "ociVersion": SPEC_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(_DEFAULT_CAPS)
                             for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runcgo",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            # No cgroup namespace, as runc 1.1's default: configs are built by adding
            # to this one (`jq '.linux.namespaces += [{"type": "cgroup"}]'`), and a
            # namespace listed twice is an error in runc and here.
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }
    if rootless:
        linux = spec["linux"]
        linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
        linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "network"]
        linux["namespaces"].append({"type": "user"})
        del linux["resources"]
        # As runc's: sysfs can't be mounted without a network namespace of our
        # own, so /sys is the host's, bound in place; no uid=/gid= options (ids
        # the user namespace does not map).  The cgroup mount stays: the
        # runtime binds the cgroups it could make, or its own.
        mounts = []
        for m in spec["mounts"]:
            if m["destination"] == "/sys":
                m = {"destination": "/sys", "type": "none", "source": "/sys",
                     "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
            elif "options" in m:
                m["options"] = [o for o in m["options"]
                                if not o.startswith(("uid=", "gid="))]
            mounts.append(m)
        spec["mounts"] = mounts
    return spec
