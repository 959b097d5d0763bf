"""Where the hierarchies are mounted and where a container's cgroup goes.

The layout is discovered from /proc/self/mountinfo rather than assumed:
hosts mount v1 controllers singly (``cpu``) or co-mounted (``cpu,cpuacct``),
hybrid hosts add a cgroup2 mount (``unified``), and pure v2 hosts have one
cgroup2 mount at /sys/fs/cgroup.  The mount *root* matters too: inside a
container the hierarchy may be mounted from a sub-cgroup, so a path read from
/proc/self/cgroup must be made relative to that root.
"""

from __future__ import annotations

import os

from ..._record import field, record
from ..mountinfo import unescape
from .base import CGROUP_ROOT, CgroupError

# Mount options of a cgroup (v1) mount that are not controller names.
_NOT_CONTROLLERS = frozenset({
    "rw", "ro", "nosuid", "nodev", "noexec", "relatime", "noatime", "strictatime",
    "clone_children", "noprefix", "xattr", "cpuset_v2_mode", "favordynmods",
    "nsdelegate", "memory_recursiveprot", "memory_localevents", "memory_hugetlb_accounting",
})


@record
class Hierarchy:
    """One cgroup mount: where it is, what it is mounted from, what it controls."""

    mountpoint: str
    root: str
    version: int
    controllers: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The directory name under /sys/fs/cgroup (``memory``, ``cpu,cpuacct``, ``unified``)."""
        return os.path.basename(self.mountpoint)


class _Cache:
    """hierarchies() of this process's mount table, for a long-lived process (the
    API's fork servers: one parse of a host's mountinfo -- hundreds of lines on a
    busy Docker host -- per container otherwise).  Valid while the mount table is
    unchanged, which the kernel tells: poll() on an open /proc/self/mountinfo
    reports POLLPRI after any mount or unmount in that namespace.  Used only by
    the process that filled it (a forked child has its own mounts to come)."""

    fd = -1
    pid = 0
    value: list[Hierarchy] | None = None


def cache_hierarchies() -> None:
    """Keep hierarchies() of /proc/self/mountinfo until the mount table changes."""
    if _Cache.fd < 0:
        _Cache.fd = os.open("/proc/self/mountinfo", os.O_RDONLY | os.O_CLOEXEC)
        _Cache.pid = os.getpid()


def _cached() -> list[Hierarchy] | None:
    if _Cache.value is None or _Cache.pid != os.getpid():
        return None
    import select

    p = select.poll()
    p.register(_Cache.fd, select.POLLPRI)
    if p.poll(0):  # changed (and now reset): parse again
        _Cache.value = None
        return None
    return list(_Cache.value)


def hierarchies(mountinfo: str = "/proc/self/mountinfo", base: str = CGROUP_ROOT) -> list[Hierarchy]:
    """Every cgroup/cgroup2 mount at or directly under ``base`` (first one wins)."""
    default = mountinfo == "/proc/self/mountinfo" and base == CGROUP_ROOT
    if default and _Cache.fd >= 0:
        hit = _cached()
        if hit is not None:
            return hit
        value = _parse(mountinfo, base)
        if _Cache.pid == os.getpid():
            _Cache.value = value
        return list(value)
    return _parse(mountinfo, base)


def _parse(mountinfo: str, base: str) -> list[Hierarchy]:
    found: dict[str, Hierarchy] = {}
    with open(mountinfo) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            if len(fields) < 5:
                continue
            root, mnt = unescape(fields[3]), unescape(fields[4])
            rparts = right.split()
            if len(rparts) < 3:
                continue
            fstype, opts = rparts[0], rparts[2]
            if mnt != base and os.path.dirname(mnt) != base:
                continue
            if fstype == "cgroup2":
                found[mnt] = Hierarchy(mnt, root, 2)
            elif fstype == "cgroup":
                ctrls = [o for o in opts.split(",")
                         if o not in _NOT_CONTROLLERS and ("=" not in o or o.startswith("name="))]
                found[mnt] = Hierarchy(mnt, root, 1, ctrls)
    hs = list(found.values())
    for h in hs:
        if h.version == 2:
            try:
                with open(os.path.join(h.mountpoint, "cgroup.controllers")) as f:
                    h.controllers = f.read().split()
            except OSError:
                h.controllers = []
    return hs


def mode(hs: list[Hierarchy] | None = None, base: str = CGROUP_ROOT) -> str:
    """``v2`` (unified at ``base``), ``hybrid`` (v1 + a cgroup2 mount) or ``v1``."""
    hs = hierarchies(base=base) if hs is None else hs
    if any(h.version == 2 and h.mountpoint == base for h in hs):
        return "v2"
    if any(h.version == 1 for h in hs):
        return "hybrid" if any(h.version == 2 for h in hs) else "v1"
    raise CgroupError(f"no cgroup hierarchy is mounted at {base}")


def own_cgroups(pid: str | int = "self") -> dict[str, str]:
    """Controller (or ``""`` for v2, ``name=systemd``) -> cgroup path of ``pid``."""
    out: dict[str, str] = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) != 3:
                continue
            _, ctrls, path = parts
            if not ctrls:
                out[""] = path
            for c in ctrls.split(","):
                if c:
                    out[c] = path
    return out


def clean(path: str) -> str:
    """Lexically clean a cgroup path; an absolute path stays absolute, no ``..`` escape."""
    absolute = path.startswith("/")
    parts: list[str] = []
    for p in path.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if parts:
                parts.pop()
            continue
        parts.append(p)
    s = "/".join(parts)
    return "/" + s if absolute else s


def hierarchy_dir(h: Hierarchy, inner: str, own: dict[str, str] | None = None,
                  parent_of_own: bool = False) -> str:
    """The directory for cgroup path ``inner`` in hierarchy ``h``.

    Absolute paths are below the hierarchy's root; relative ones below this
    process's own cgroup in that hierarchy (as runc does), or below its parent
    on v2, where our own cgroup already holds processes and so cannot get
    controllers enabled for a child.
    """
    inner = clean(inner)
    if inner.startswith("/"):
        return os.path.join(h.mountpoint, inner.lstrip("/")).rstrip("/")
    own = own_cgroups() if own is None else own
    key = "" if h.version == 2 else next((c for c in h.controllers if c in own), "")
    mine = own.get(key, "/")
    # Make it relative to the mount's root (inside a container the root is not "/").
    if h.root != "/" and (mine == h.root or mine.startswith(h.root + "/")):
        mine = mine[len(h.root):] or "/"
    if parent_of_own:
        mine = os.path.dirname(mine.rstrip("/")) or "/"
    return os.path.join(h.mountpoint, mine.lstrip("/"), inner).rstrip("/")


def sub_dir(base: str, rel: str) -> str:
    """``base/rel`` for ``exec --cgroup``: a cgroup at or below ``base`` (``/``
    is ``base`` itself), never outside it, whatever ``..`` it holds."""
    joined = os.path.normpath(base + "/" + rel)
    if joined != base and not joined.startswith(base.rstrip("/") + "/"):
        raise CgroupError(f"{rel} is not a sub cgroup path")
    return joined
