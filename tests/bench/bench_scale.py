"""The async API at orchestrator scale (issue 20).  Not a test.

    sudo PYTHONPATH=. python tests/bench/bench_scale.py [--n 50,200,1000]
        [--backend asyncio] [--runc /usr/sbin/runc] [--crun /usr/bin/crun | --crun '']
    sudo PYTHONPATH=. python tests/bench/bench_scale.py --soak 100 [--wave 100]

Scale mode: for each N, N ``sleep`` containers held alive, each with its own
``cgroupsPath`` under one parent that already exists, all brought up at once
(the API: ``create`` + ``start`` in one process; crun and runc: N ``run -d``
processes launched together), then torn down (the API: kill, wait, delete;
the CLIs: N ``delete --force`` at once).  Per N the runtimes run back to back
on fresh bundles; "ms/ctr up" is the wall time of the bring-up divided by N.
"API RSS" is the supervising Python process, "servers" its fork servers;
"API CPU" is the CPU time of both (with the setup children they reaped) per
container brought up -- steadier than wall time on a shared machine.

Soak mode: waves of ``--wave`` concurrent ``rt.run()`` of ``true`` under one
shared parent; per wave its time and the supervisor's RSS, fds and threads,
then the growth from the first wave to the last and anything left behind.

crun 1.8.1 refuses this hybrid-cgroup host, so it runs through the same
private-mount-namespace wrapper as tests/bench/bench.py (~3 ms a call, in its
numbers), with ociVersion 1.0.2-dev.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import anyio

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), os.path.join(os.path.dirname(HERE), "soak")]

from bench import write_crun_wrapper  # noqa: E402
from waves import (  # noqa: E402
    Bundles,
    cgroup_dirs,
    make_parent,
    proc_figures,
    remove_parent,
    soak,
    tagged_processes,
)

import runcgo  # noqa: E402


def _cpu(pid: int) -> float:
    """CPU seconds of a process and the children it reaped (user + system)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _left(root: str, parent: str, tag: str) -> list[str]:
    out = [f"state {n}" for n in (os.listdir(root) if os.path.isdir(root) else [])]
    out += [f"cgroup {d}" for d in cgroup_dirs(parent)]
    out += [f"process {p}" for p in tagged_processes(tag)]
    return out


async def _warm(rt: runcgo.Runtime, b: Bundles, k: int) -> None:
    async with rt.run(f"{b.tag}-warm{k}", b.warm(k), stdio="null") as c:
        await c.wait()


async def api_scale(root: str, b: Bundles) -> dict[str, float]:
    async with runcgo.Runtime(root=root) as rt:
        containers: list[runcgo.Container] = []
        failures: list[str] = []

        async def up(k: int) -> None:
            try:
                c = await rt.create(f"{b.tag}-{k}", b.paths[k], stdio="null")
                containers.append(c)
                await c.start()
            except runcgo.RuncgoError as e:
                failures.append(str(e))

        # A long-lived orchestrator's Runtime is warm: one container per fork
        # server first, outside the timing (parent cgroup and imports made).
        async with anyio.create_task_group() as tg:
            for k in range(len(rt._clients)):
                tg.start_soon(_warm, rt, b, k)
        servers = [c.proc.pid for c in rt._clients]
        cpu0 = time.process_time() + sum(_cpu(p) for p in servers)
        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for k in range(b.slots):
                tg.start_soon(up, k)
        t_up = time.perf_counter() - t0
        cpu_up = time.process_time() + sum(_cpu(p) for p in servers) - cpu0
        running = sum(1 for s in await rt.list() if s.status == "running")
        rss, fds, threads = proc_figures()
        srv_rss = sum(proc_figures(c.proc.pid)[0] for c in rt._clients)

        async def down(c: runcgo.Container) -> None:
            await c.kill(signal.SIGKILL)
            await c.wait()
            await c.delete()

        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for c in containers:
                tg.start_soon(down, c)
        t_down = time.perf_counter() - t0
    if failures:
        print(f"#   API: {len(failures)} failed, e.g. {failures[0]}")
    return {"up": t_up, "cpu": cpu_up, "down": t_down, "rss": rss, "fds": fds, "threads": threads,
            "srv_rss": srv_rss, "running": running}


def cli_scale(cli: str, root: str, b: Bundles) -> dict[str, float]:
    def launch(argv_of: list[list[str]]) -> tuple[float, list[bytes]]:
        # stderr to files, not pipes: a detached container keeps the runtime's
        # stdio, so a pipe would never reach EOF.
        files = [tempfile.TemporaryFile() for _ in argv_of]  # noqa: SIM115 - closed below
        t0 = time.perf_counter()
        procs = [subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=f) for argv, f in zip(argv_of, files, strict=True)]
        codes = [p.wait() for p in procs]
        elapsed = time.perf_counter() - t0
        errs = []
        for code, f in zip(codes, files, strict=True):
            if code:
                f.seek(0)
                errs.append(f.read())
            f.close()
        return elapsed, errs

    ids = [f"{b.tag}-{k}" for k in range(b.slots)]
    t_up, errs = launch([[cli, "--root", root, "run", "-d", "-b", path, cid]
                         for cid, path in zip(ids, b.paths, strict=True)])
    if errs:
        print(f"#   {os.path.basename(cli)}: {len(errs)} failed, e.g. {errs[0][:200]!r}")
    running = len(tagged_processes(b.tag))
    t_down, errs = launch([[cli, "--root", root, "delete", "--force", cid] for cid in ids])
    if errs:
        print(f"#   {os.path.basename(cli)} delete: {len(errs)} failed, e.g. {errs[0][:200]!r}")
    return {"up": t_up, "down": t_down, "running": running}


def scale_mode(a: argparse.Namespace, tmp: str, clis: dict[str, str]) -> None:
    rows = []
    for n in a.n:
        row: dict[str, dict[str, float]] = {}
        for name in ["api", *clis]:
            tag = f"scale-{name[:2]}{n}-{uuid.uuid4().hex[:4]}"
            parent = f"/runcgo-test-scale-{tag}"
            make_parent(parent)
            b = Bundles(tmp, parent, tag, ["sleep", "3600"], n,
                        "1.0.2-dev" if name == "crun" else None)
            root = os.path.join(tmp, f"state-{tag}")
            try:
                if name == "api":
                    row[name] = anyio.run(api_scale, root, b, backend=a.backend)
                else:
                    row[name] = cli_scale(clis[name], root, b)
                time.sleep(0.2)
                left = _left(root, parent, tag)
                if left:
                    print(f"#   {name} N={n}: {len(left)} left behind, e.g. {left[:3]}")
            finally:
                remove_parent(parent)
                for p in b.paths:
                    shutil.rmtree(p, ignore_errors=True)
                for k in range(16):
                    shutil.rmtree(f"{tmp}/{b.tag}-warm{k}", ignore_errors=True)
                shutil.rmtree(root, ignore_errors=True)
        rows.append((n, row))
        print(f"# N={n} done", flush=True)
    names = ["api", *clis]
    print(f"\n{a.backend}: N live `sleep` containers under one existing parent, brought up "
          "at once; ms per container up, teardown seconds, supervisor RSS")
    head = "| N | " + " | ".join(f"{x} ms/ctr up" for x in names) + " | api ÷ crun | " + \
        " | ".join(f"{x} teardown s" for x in names) + " | API RSS MB | servers RSS MB | " \
        "API fds | API threads | API CPU ms/ctr up |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for n, row in rows:
        ups = [row[x]["up"] * 1000 / n for x in names]
        ratio = (f"{row['crun']['up'] / row['api']['up']:.2f}x" if "crun" in row else "-")
        api = row["api"]
        print(f"| {n} | " + " | ".join(f"{u:.1f}" for u in ups) + f" | {ratio} | "
              + " | ".join(f"{row[x]['down']:.2f}" for x in names)
              + f" | {api['rss'] / 1024:.0f} | {api['srv_rss'] / 1024:.0f} | {api['fds']:.0f}"
              f" | {api['threads']:.0f} | {api['cpu'] * 1000 / n:.2f} |")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        growth = (last[1]["api"]["up"] / last[0]) / (first[1]["api"]["up"] / first[0]) - 1
        cpu_growth = (last[1]["api"]["cpu"] / last[0]) / (first[1]["api"]["cpu"] / first[0]) - 1
        print(f"API bring-up per container, N={first[0]} -> N={last[0]}: wall {growth:+.0%}, "
              f"CPU of the API process and its fork servers {cpu_growth:+.0%}")


def soak_mode(a: argparse.Namespace, tmp: str) -> int:
    tag = f"scale-soak-{uuid.uuid4().hex[:6]}"
    parent = f"/runcgo-test-scale-{tag}"
    root = os.path.join(tmp, "state-soak")
    make_parent(parent)
    b = Bundles(tmp, parent, tag, ["true"], a.wave)
    print(f"soak ({a.backend}): {a.soak} waves of {a.wave} concurrent rt.run() of `true`")
    print(f"{'wave':>5}{'s':>7}{'ctr/s':>8}{'failed':>8}{'RSS MB':>8}{'fds':>6}"
          f"{'threads':>8}{'srv MB':>8}{'srv fds':>8}")

    def show(w: int, x: object) -> None:
        assert hasattr(x, "seconds")
        if w < 3 or (w + 1) % max(1, a.soak // 10) == 0 or w == a.soak - 1:
            print(f"{w + 1:5}{x.seconds:7.2f}{a.wave / x.seconds:8.0f}{len(x.failures):8}"
                  f"{x.rss_kib / 1024:8.1f}{x.fds:6}{x.threads:8}"
                  f"{x.server_rss_kib / 1024:8.1f}{x.server_fds:8}", flush=True)

    async def run() -> list[object]:
        async with runcgo.Runtime(root=root) as rt:
            return list(await soak(rt, b, a.soak, on_wave=show))

    try:
        waves = anyio.run(run, backend=a.backend)
        time.sleep(0.2)
        left = _left(root, parent, tag)
    finally:
        remove_parent(parent)
    failed = [f for w in waves for f in getattr(w, "failures", [])]
    w0, wn = waves[0], waves[-1]
    per = max(1, len(waves) - 1)
    print(f"{len(waves) * a.wave} containers, {len(failed)} failed"
          + (f" (e.g. {failed[0]})" if failed else ""))
    for what in ("rss_kib", "fds", "threads", "server_rss_kib", "server_fds"):
        d = getattr(wn, what) - getattr(w0, what)
        print(f"  {what}: {getattr(w0, what)} after wave 1 -> {getattr(wn, what)} after wave "
              f"{len(waves)} ({d / per:+.1f} per wave)")
    print(f"left behind: {left or 'nothing'}")
    return 1 if failed or left else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=lambda s: [int(x) for x in s.split(",")], default=[50, 200, 1000])
    ap.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    ap.add_argument("--runc", default="/usr/sbin/runc", help="runc binary ('' to leave it out)")
    ap.add_argument("--crun", default="/usr/bin/crun", help="crun binary ('' to leave it out)")
    ap.add_argument("--soak", type=int, default=0, help="soak mode: this many waves")
    ap.add_argument("--wave", type=int, default=100, help="containers per soak wave")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="runcgo-scale-")
    try:
        if a.soak:
            sys.exit(soak_mode(a, tmp))
        clis: dict[str, str] = {}
        wrapper = write_crun_wrapper(tmp, a.crun)
        if wrapper:
            clis["crun"] = wrapper
        elif a.crun:
            print(f"# crun not found ({a.crun}): left out")
        if a.runc and shutil.which(a.runc):
            clis["runc"] = a.runc
        scale_mode(a, tmp, clis)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
