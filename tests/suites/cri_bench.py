"""The CRI bench (``../shared/suites/cri``): find it, bring it up and down, and check the host.

The bench is a private containerd 1.6 with the CRI plugin, a local registry, a CNI bridge
and critest/crictl, driven by its own scripts (``cri-up.sh``, ``critest.sh HANDLER``,
``cri-down.sh``).  Handler ``runc`` runs /usr/sbin/runc; handler ``test`` runs whatever
``$RUNTIME_BINARY`` names.  Shared by the ``cri`` nox session (tests/suites/cri_parity.py)
and the pod benchmark (tests/bench/pod_bench.py), so both bring it up the same way and
both prove that nothing is left on the host afterwards.
"""

from __future__ import annotations

import glob
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent.parent

STATE = "/run/containerd-cri"
ROOT = "/var/lib/containerd-cri"
SOCK = f"{STATE}/containerd.sock"
BRIDGE = "crib0"


def default_suite() -> Path:
    """$RUNCGO_SUITES/cri, else ../shared/suites/cri beside the checkout."""
    base = os.environ.get("RUNCGO_SUITES")
    return Path(base) / "cri" if base else CHECKOUT.parent / "shared" / "suites" / "cri"


def workdir() -> Path:
    """Where the bench keeps binaries, results and logs (its own default), resolved as
    its scripts resolve it (the paths in its processes' command lines)."""
    return (Path(os.environ.get("SUITES_WORKDIR", "/var/tmp/runtime-suites")) / "cri").resolve()


def available(suite: Path) -> str | None:
    """None when the bench can run here, else why not (for a skip line)."""
    if not (suite / "cri-up.sh").is_file():
        return f"no CRI bench at {suite} (set RUNCGO_SUITES)"
    if os.geteuid() != 0:
        return "the CRI bench needs root"
    return None


def is_up() -> bool:
    return os.path.exists(SOCK)


def crictl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """crictl against the bench's containerd (never the system's)."""
    ep = f"unix://{SOCK}"
    cmd = [str(workdir() / "bin" / "crictl"), "--config", "/dev/null",
           "--runtime-endpoint", ep, "--image-endpoint", ep, "--timeout", "60s", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def up(suite: Path, runtime_binary: str) -> None:
    env = {**os.environ, "RUNTIME_BINARY": runtime_binary}
    subprocess.run(["bash", str(suite / "cri-up.sh")], env=env, check=True,
                   stdin=subprocess.DEVNULL)


def down(suite: Path) -> int:
    """cri-down.sh's status: 0 when it left nothing behind."""
    return subprocess.run(["bash", str(suite / "cri-down.sh")],
                          stdin=subprocess.DEVNULL).returncode


@dataclass
class HostSnapshot:
    """What the leftover check compares against: k8s.io cgroup parents that were
    already there (another user's kubelet, say) are not ours to report."""

    cgroup_fs: str
    k8s_parents: set[str] = field(default_factory=set)


def _k8s_parents() -> set[str]:
    return set(glob.glob("/sys/fs/cgroup/*/k8s.io")) | set(glob.glob("/sys/fs/cgroup/k8s.io"))


def snapshot() -> HostSnapshot:
    return HostSnapshot(_fs_type("/sys/fs/cgroup"), _k8s_parents())


def _fs_type(path: str) -> str:
    return subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True,
                          text=True).stdout.strip()


def _cmdlines() -> dict[int, str]:
    out: dict[int, str] = {}
    for d in glob.glob("/proc/[0-9]*"):
        try:
            with open(f"{d}/cmdline", "rb") as f:
                out[int(d[6:])] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return out


def _mountpoints() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f]


def leftovers(before: HostSnapshot, cmdlines: dict[int, str] | None = None,
              mountpoints: list[str] | None = None, links: list[str] | None = None,
              k8s_parents: set[str] | None = None, cgroup_fs: str | None = None) -> list[str]:
    """Everything of the bench still on the host after cri-down.sh, one line each: its
    containerd or shims, a mount (netns files are mounts too) under its state, root or
    critest's temp dir, its bridge, a k8s.io cgroup that was not there before.  The
    arguments default to the live host (tests pass synthetic ones)."""
    cmdlines = _cmdlines() if cmdlines is None else cmdlines
    mountpoints = _mountpoints() if mountpoints is None else mountpoints
    links = os.listdir("/sys/class/net") if links is None else links
    k8s_parents = _k8s_parents() if k8s_parents is None else k8s_parents
    cgroup_fs = _fs_type("/sys/fs/cgroup") if cgroup_fs is None else cgroup_fs
    w = workdir()
    tmp = str(w / "tmp")
    marks = (SOCK, str(w / "run" / "containerd.toml"), str(w / "images"))
    found = []
    for pid, cmd in sorted(cmdlines.items()):
        if any(mark in cmd for mark in marks):  # shims, containerd, the registry
            found.append(f"process {pid}: {cmd.strip()}")
    for m in mountpoints:
        if any(m == p or m.startswith(p + "/") for p in (STATE, ROOT, tmp)):
            found.append(f"mount {m}")
    if BRIDGE in links:
        found.append(f"bridge {BRIDGE}")
    for d in sorted(k8s_parents - before.k8s_parents):
        found.append(f"cgroup {d}")
    for d in sorted(before.k8s_parents & k8s_parents):
        found += [f"cgroup {c}" for c in sorted(glob.glob(f"{d}/*/")) if _is_pod_cgroup(c)]
    if cgroup_fs != before.cgroup_fs:
        found.append(f"/sys/fs/cgroup is {cgroup_fs}, was {before.cgroup_fs}")
    return found


def _is_pod_cgroup(path: str) -> bool:
    """A pod or container cgroup (a 64-hex id or kubepods' pod<uid>) under k8s.io."""
    name = os.path.basename(path.rstrip("/"))
    return len(name) == 64 or name.startswith("pod")
