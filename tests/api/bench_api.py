"""N containers created, started and reaped concurrently: the async API (asyncio and
trio, one process) vs N ``runc run`` and N ``crun run`` processes launched at once.
Not a test.

    sudo PYTHONPATH=. python tests/api/bench_api.py [-n 100] [--rounds 5]
        [--runc /usr/sbin/runc] [--crun /usr/bin/crun | --crun '']

Every container runs ``true`` from the same busybox rootfs; rounds are interleaved
(api-asyncio, api-trio, runc, crun, ...) and the table shows medians in
containers/second.  crun 1.8.1 refuses this hybrid-cgroup host, so it runs
through the same private-mount-namespace wrapper as tests/bench/bench.py (its
cost, ~3 ms a call, is in crun's numbers), with ociVersion 1.0.2-dev.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import anyio

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

from bench.bench import write_crun_wrapper

import runcgo

import bundles

PREFIX = "/runcgo-test-bench-"


def make_bundles(tmp: str, n: int, tag: str, oci_version: str | None = None) -> list[tuple[str, str]]:
    rootfs = os.path.join(tmp, "rootfs")
    if not os.path.isdir(rootfs):
        bundles.make_rootfs(rootfs)
    out = []
    for k in range(n):
        cid = f"b{tag}-{k}"
        path = os.path.join(tmp, cid)
        os.makedirs(path, exist_ok=True)
        cfg = bundles.default_config()
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = ["true"]
        cfg["root"] = {"path": rootfs, "readonly": False}
        cfg["linux"]["cgroupsPath"] = f"{PREFIX}{cid}"
        if oci_version:
            cfg["ociVersion"] = oci_version
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(cfg, f)
        out.append((cid, path))
    return out


async def api_round(root: str, items: list[tuple[str, str]], workers: int | None) -> float:
    async with runcgo.Runtime(root=root, workers=workers) as rt:
        codes: list[int | None] = []

        async def one(cid: str, bundle: str) -> None:
            async with rt.run(cid, bundle, stdio="null") as c:
                codes.append(await c.wait())

        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for cid, bundle in items:
                tg.start_soon(one, cid, bundle)
        elapsed = time.perf_counter() - t0
    assert codes == [0] * len(items), codes
    return elapsed


def cli_round(cli: str, root: str, items: list[tuple[str, str]]) -> float:
    """N ``CLI run`` processes started at once, then waited for."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen([cli, "--root", root, "run", "-b", bundle, cid],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for cid, bundle in items]
    errs = [(p.wait(), p.stderr.read() if p.stderr else b"") for p in procs]
    elapsed = time.perf_counter() - t0
    for p in procs:
        if p.stderr:
            p.stderr.close()
    bad = [e for e in errs if e[0] != 0]
    assert not bad, bad[:3]
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runc", default="/usr/sbin/runc")
    ap.add_argument("--crun", default="/usr/bin/crun", help="crun binary ('' to leave it out)")
    ap.add_argument("--workers", type=int, default=None, help="fork servers (default: API default)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="runcgo-bench-")
    times: dict[str, list[float]] = {"api-asyncio": [], "api-trio": [], "runc": []}
    clis = {"runc": a.runc}
    wrapper = write_crun_wrapper(tmp, a.crun)
    if wrapper:
        clis["crun"] = wrapper
        times["crun"] = []
    elif a.crun:
        print(f"# crun not found ({a.crun}): left out")
    try:
        for r in range(a.rounds):
            for name in times:
                items = make_bundles(tmp, a.n, f"{r}{name[-1]}{uuid.uuid4().hex[:4]}",
                                     "1.0.2-dev" if name == "crun" else None)
                root = os.path.join(tmp, f"state-{name}-{r}")
                if name in clis:
                    t = cli_round(clis[name], root, items)
                else:
                    t = anyio.run(api_round, root, items, a.workers, backend=name[4:])
                times[name].append(t)
                for _, path in items:
                    shutil.rmtree(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rate = {name: a.n / statistics.median(ts) for name, ts in times.items()}
    print(f"N={a.n} containers (`true`), rounds={a.rounds}, median wall time")
    print(f"{'':14}{'seconds':>10}{'containers/s':>15}{'vs runc':>10}{'vs crun':>10}")
    for name, ts in times.items():
        vs_crun = f"{rate[name] / rate['crun']:9.2f}x" if "crun" in rate else f"{'-':>10}"
        print(f"{name:14}{statistics.median(ts):10.3f}{rate[name]:15.1f}"
              f"{rate[name] / rate['runc']:9.2f}x{vs_crun}")


if __name__ == "__main__":
    main()
