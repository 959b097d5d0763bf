"""What a container left on the host, seen from the host: processes, mounts,
cgroup directories, state entries.

Used by the damaged-state tests and the fault and load tiers.  A test marks
its containers' processes with an environment variable (``RUNCGO_TEST_TAG``)
and puts their cgroups under a name holding the same tag, so anything of
theirs still alive is found in /proc whatever pid namespace it is in.
"""

from __future__ import annotations

import contextlib
import os

CGROUP_ROOT = "/sys/fs/cgroup"
TAG_VAR = "RUNCGO_TEST_TAG"


def _state_letter(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return "X"


def tagged_processes(tag: str) -> list[str]:
    """Live (not zombie) processes whose environment or cgroup carries ``tag``."""
    needle_env = f"{TAG_VAR}={tag}".encode()
    needle_cg = tag.encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{pid}/cgroup", "rb") as f:
                cg = f.read()
        except OSError:  # gone, or a kernel thread
            continue
        if (needle_env in env.split(b"\0") or needle_cg in cg) and _state_letter(pid) not in "ZX":
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            found.append(f"{pid} {cmd}")
    return found


def tagged_cgroups(tag: str) -> list[str]:
    """Cgroup directories, in every hierarchy and at any depth, whose name holds ``tag``."""
    found = []
    for hier in sorted(os.listdir(CGROUP_ROOT)):
        base = os.path.join(CGROUP_ROOT, hier)
        if not os.path.isdir(base) or os.path.islink(base):
            continue
        for top, dirs, _files in os.walk(base):
            for d in dirs:
                if tag in d:
                    found.append(os.path.join(top, d))
    return found


def tagged_mounts(tag: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if tag in line.split()[4]]


def netns_of(pids: list[int]) -> set[str]:
    """The net namespaces of some processes (to check none outlives them)."""
    out = set()
    for pid in pids:
        try:
            out.add(os.readlink(f"/proc/{pid}/ns/net"))
        except OSError:
            continue
    return out


def live_netns() -> set[str]:
    """Every net namespace some process is in."""
    out = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                out.add(os.readlink(f"/proc/{pid}/ns/net"))
            except OSError:
                continue
    return out


def leftovers(tag: str, root: str) -> list[str]:
    """Everything of ``tag`` still on the host plus every entry under ``root``."""
    out = [f"process {p}" for p in tagged_processes(tag)]
    out += [f"cgroup {c}" for c in tagged_cgroups(tag)]
    out += [f"mount {m}" for m in tagged_mounts(tag)]
    if os.path.isdir(root):
        out += [f"state {n}" for n in os.listdir(root)]
    return out


def cgroup_dirs() -> set[str]:
    """Every directory under /sys/fs/cgroup: cgroups, and plain directories on its tmpfs
    (podman's conmon mkdirs hierarchies this host does not mount, e.g. net_cls/...)."""
    return {top for top, _dirs, _files in os.walk(CGROUP_ROOT)}


def remove_new_cgroup_dirs(before: set[str]) -> list[str]:
    """rmdir, deepest first, the directories the engines made during a tier (dockerd's
    /docker, podman's /libpod_parent, ...); what can't go (it still holds a process) is
    returned for the report."""
    tmpfs_dev = os.stat(CGROUP_ROOT).st_dev
    for d in sorted(cgroup_dirs() - before, key=lambda p: p.count("/"), reverse=True):
        with contextlib.suppress(OSError):
            if os.stat(d).st_dev == tmpfs_dev:
                # not a cgroup: a plain directory on the tmpfs, with the "tasks" file
                # conmon wrote into it
                for name in os.listdir(d):
                    with contextlib.suppress(IsADirectoryError):
                        os.unlink(os.path.join(d, name))
            os.rmdir(d)
    return sorted(cgroup_dirs() - before)
