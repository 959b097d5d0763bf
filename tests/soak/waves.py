"""The scale and soak workloads shared by ``tests/bench/bench_scale.py`` (which
prints figures) and ``tests/soak`` (which fails on a failed create or a leak).

An orchestrator's day in small: containers made under one shared parent cgroup
(``/runcgo-test-scale-.../slotN``), many at once, from one process.  What the
host and the supervising process look like is measured from outside: state
entries under the root, cgroup directories under the parent, processes
carrying the run's tag in their environment, and the API process's and fork
servers' RSS, open fds and threads.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import anyio

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/: bundles, hostcheck

from cgtree import CG, cgroup_dirs, hierarchies  # noqa: E402,F401  (cgroup_dirs: for the tests)
from cgtree import remove_tree as remove_parent  # noqa: E402

import runcgo  # noqa: E402

import bundles  # noqa: E402

TAG_VAR = "RUNCGO_SCALE_TAG"


def make_parent(rel: str) -> None:
    """The shared parent as an orchestrator makes it before its containers: a
    directory in every hierarchy, a v1 cpuset filled from the root."""
    for h in hierarchies():
        d = os.path.join(h, rel.lstrip("/"))
        os.makedirs(d, exist_ok=True)
        # v1: a new cpuset is empty until filled; v2: an empty one means "the parent's"
        # (and the root has no cpuset.cpus to copy)
        if os.path.exists(os.path.join(h, "cpuset.cpus")) and os.path.exists(
                os.path.join(d, "cpuset.cpus")):
            for name in ("cpuset.cpus", "cpuset.mems"):
                with open(os.path.join(h, name)) as f:
                    value = f.read().strip()
                with open(os.path.join(d, name), "w") as f:
                    f.write(value)


def tagged_processes(tag: str) -> list[int]:
    """Processes whose environment carries ``TAG_VAR=tag`` (our containers)."""
    needle = f"{TAG_VAR}={tag}".encode()
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/environ", "rb") as f:
                    if needle in f.read().split(b"\0"):
                        out.append(int(p))
            except OSError:
                continue
    return out


def proc_figures(pid: int | str = "self") -> tuple[int, int, int]:
    """(RSS KiB, open fds, threads) of a process."""
    rss = threads = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0, 0, 0
    return rss, fds, threads


@dataclass
class Bundles:
    """``slots`` bundles on one shared busybox rootfs, slot k at ``parent/slotK``: one
    cgroup each (containers sharing a cgroupsPath would remove it under each other)."""

    tmp: str
    parent: str
    tag: str
    args: list[str]
    slots: int
    oci_version: str | None = None
    slot: str = "slot"  # the cgroup leaf's name prefix: two Bundles under one parent differ
    paths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        rootfs = os.path.join(self.tmp, "rootfs")
        if not os.path.isdir(rootfs):
            bundles.make_rootfs(rootfs)
        for k in range(self.slots):
            path = os.path.join(self.tmp, f"{self.tag}-b{k}")
            cfg = bundles.shared_rootfs_bundle(path, rootfs, self.args, f"{self.parent}/{self.slot}{k}",
                                               ["PATH=/bin", f"{TAG_VAR}={self.tag}"])
            if self.oci_version:
                cfg["ociVersion"] = self.oci_version
                bundles.write_config(path, cfg)
            self.paths.append(path)

    def warm(self, k: int) -> str:
        """A bundle of ``true`` in its own slot ``warmK``, for warming a Runtime up."""
        path = os.path.join(self.tmp, f"{self.tag}-warm{k}")
        if not os.path.isdir(path):
            bundles.shared_rootfs_bundle(path, os.path.join(self.tmp, "rootfs"), ["true"],
                                         f"{self.parent}/warm{k}",
                                         ["PATH=/bin", f"{TAG_VAR}={self.tag}"])
        return path


@dataclass
class Wave:
    """One wave: how long it took, what failed, and the supervisor afterwards."""

    seconds: float
    failures: list[str]
    rss_kib: int
    fds: int
    threads: int
    server_rss_kib: int
    server_fds: int


async def soak(rt: runcgo.Runtime, b: Bundles, waves: int, wave_no: int = 0,
               on_wave: object = None) -> list[Wave]:
    """``waves`` waves of ``b.slots`` concurrent ``rt.run()``, each waited for;
    every container in slot k of its wave, IDs ``TAG-wW-K``."""
    out: list[Wave] = []
    for w in range(wave_no, wave_no + waves):
        failures: list[str] = []

        async def one(k: int, w: int = w, failures: list[str] = failures) -> None:
            try:
                async with rt.run(f"{b.tag}-w{w}-{k}", b.paths[k], stdio="null") as c:
                    code = await c.wait()
                    if code != 0:
                        failures.append(f"{c.id}: exit code {code}")
            except runcgo.RuncgoError as e:
                failures.append(f"{b.tag}-w{w}-{k}: {e}")

        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for k in range(b.slots):
                tg.start_soon(one, k)
        seconds = time.perf_counter() - t0
        rss, fds, threads = proc_figures()
        servers = [proc_figures(c.proc.pid) for c in rt._clients]
        wave = Wave(seconds, failures, rss, fds, threads, sum(s[0] for s in servers),
                    sum(s[1] for s in servers))
        out.append(wave)
        if callable(on_wave):
            on_wave(w, wave)
    return out


def leftovers(root: str, parent: str, tag: str) -> list[str]:
    """What a run left: state entries, cgroups below the parent, tagged processes."""
    time.sleep(0.1)  # the last inits' exit may still be reaching the kernel
    out = [f"state {n}" for n in os.listdir(root)] if os.path.isdir(root) else []
    out += [f"cgroup {d}" for d in cgroup_dirs(parent)]
    return out + [f"process {p}" for p in tagged_processes(tag)]


async def waves_under_parent(tmp: str, tag: str, parent_before: str, slots: int,
                             waves: int) -> tuple[list[Wave], list[str]]:
    """``waves`` waves of ``slots`` containers under the shared parent
    ``/runcgo-test-scale-<tag>``, made beforehand (``parent_before="existing"``) or by
    the creates; returns the waves and the leftovers, the parent removed either way."""
    parent = f"/runcgo-test-scale-{tag}"
    root = os.path.join(tmp, "state")
    if parent_before == "existing":
        make_parent(parent)
    b = Bundles(tmp, parent, tag, ["true"], slots)
    try:
        async with runcgo.Runtime(root=root) as rt:
            done = await soak(rt, b, waves)
        return done, leftovers(root, parent, tag)
    finally:
        remove_parent(parent)
