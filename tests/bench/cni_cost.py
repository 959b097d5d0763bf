#!/usr/bin/env python3
"""What a CNI network costs per container: ADD and DEL, by plugin, and end to end.

    sudo .venv/bin/python tests/bench/cni_cost.py            # N=20 rounds
    sudo .venv/bin/python tests/bench/cni_cost.py -n 10 --no-e2e
    sudo RUNCGO_CLI=/path/to/launcher PYTHONPATH=$PWD .venv/bin/python tests/bench/cni_cost.py

Part 1 times runcgo's own ADD and DEL (net/attachment.py) on a fresh network
namespace per round: a child unshares one and sleeps, runcgo pins it as
``create`` does, then ADD and DEL run through the list -- bridge (+ host-local),
portmap with one published port, firewall: the default network's plugins.
Each plugin's share is timed too.  Part 2 (unless --no-e2e) times ``runcgo
run`` of ``true`` with and without ``--network`` on the same bundle, interleaved.

Everything happens on a private network (its own conf dir, name, bridge, a
free /24, lease dir); the bridge, the plugins' shared chains (if they were not
there before) and ip_forward are put back at the end.  Stdlib only, plus the
repository's tests/ helpers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [REPO, os.path.dirname(HERE)]

import netguard  # noqa: E402

from runcgo.kernel import netns  # noqa: E402
from runcgo.kernel import syscalls as sc  # noqa: E402
from runcgo.net import attachment  # noqa: E402
from runcgo.net import plugin as P  # noqa: E402

import bundles  # noqa: E402
from harness import runcgo_cmd  # noqa: E402

CLONE_NEWNET = 0x40000000


def _netns_holder() -> int:
    """A child in a new network namespace of its own, asleep until killed."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(r)
            sc.unshare(CLONE_NEWNET)
            os.write(w, b"x")
            signal.pause()
        finally:
            os._exit(0)
    os.close(w)
    os.read(r, 1)
    os.close(r)
    return pid


def _stats(xs: list[float]) -> str:
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, round(0.9 * (len(xs) - 1)))]
    return f"median {statistics.median(xs) * 1000:7.1f} ms   p90 {p90 * 1000:7.1f} ms   (n={len(xs)})"


def attach_cost(net: netguard.TestNetwork, rounds: int, tmp: Path) -> dict[str, list[float]]:
    conf = net.conflist()
    cni_path = ["/usr/lib/cni", "/opt/cni/bin"]
    per_plugin: dict[str, list[float]] = {}
    real_invoke = P.invoke

    def timed_invoke(network: str, binary: str, command: str, config: dict, env: dict) -> object:  # type: ignore[type-arg]
        t0 = time.perf_counter()
        try:
            return real_invoke(network, binary, command, config, env)
        finally:
            key = f"{command} {os.path.basename(binary)}"
            per_plugin.setdefault(key, []).append(time.perf_counter() - t0)

    attachment.invoke = timed_invoke  # type: ignore[assignment]
    out: dict[str, list[float]] = {"ADD": [], "DEL": []}
    for i in range(rounds):
        pid = _netns_holder()
        path = str(tmp / f"netns-{i}")
        try:
            netns.pin(pid, path)
            att = attachment.Attachment(container_id=f"bench-{os.getpid()}-{i}", netns=path,
                                        ifname="eth0", conf=conf, cni_path=cni_path,
                                        capability_args={"portMappings": [
                                            {"hostPort": 30000 + i, "containerPort": 80,
                                             "protocol": "tcp"}]})
            t0 = time.perf_counter()
            attachment.add(att)
            t1 = time.perf_counter()
            err = attachment.delete(att)
            t2 = time.perf_counter()
            if err is not None:
                raise err
            out["ADD"].append(t1 - t0)
            out["DEL"].append(t2 - t1)
        finally:
            netns.unpin(path)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    attachment.invoke = real_invoke
    out.update(per_plugin)
    return out


def e2e_cost(net: netguard.TestNetwork, rounds: int, tmp: Path) -> dict[str, list[float]]:
    bundle = tmp / "bundle"
    bundles.make_bundle(str(bundle), ["true"])
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["linux"]["cgroupsPath"] = f"/runcgo-bench-{os.getpid()}/cni"
    (bundle / "config.json").write_text(json.dumps(cfg))
    root = tmp / "state"
    base = [*runcgo_cmd(), "--root", str(root), "run", "-b", str(bundle)]
    out: dict[str, list[float]] = {"run (no network)": [], "run --network": []}
    for i in range(rounds):
        pair = [("run (no network)", []), ("run --network", net.flags())]
        for label, extra in (pair if i % 2 else pair[::-1]):  # interleaved, alternating first
            t0 = time.perf_counter()
            subprocess.run([*base, *extra, f"b{os.getpid()}-{i}-{len(extra)}"], check=True,
                           stdin=subprocess.DEVNULL)
            out[label].append(time.perf_counter() - t0)
    for ctrl in os.listdir("/sys/fs/cgroup"):
        for d in (f"/sys/fs/cgroup/{ctrl}/runcgo-bench-{os.getpid()}/cni",
                  f"/sys/fs/cgroup/{ctrl}/runcgo-bench-{os.getpid()}"):
            with contextlib.suppress(OSError):
                os.rmdir(d)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--rounds", type=int, default=20)
    ap.add_argument("--no-e2e", action="store_true", help="only time ADD/DEL")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("cni_cost: needs root")
    with tempfile.TemporaryDirectory(prefix="runcgo-cni-bench-") as d, \
            netguard.ip_forward_restored():
        tmp = Path(d)
        net = netguard.TestNetwork(tmp)
        try:
            results = attach_cost(net, a.rounds, tmp)
            if not a.no_e2e:
                results.update(e2e_cost(net, a.rounds, tmp))
            left = net.leftovers()
        finally:
            net.close()
    print(f"CNI cost per container, network {net.name} (bridge+host-local, portmap with one "
          f"port, firewall; plugins {P.find_binary('bridge', ['/usr/lib/cni', '/opt/cni/bin'])})")
    for key, xs in results.items():
        print(f"  {key:<22} {_stats(xs)}")
    if left:
        sys.exit(f"cni_cost: left behind: {left}")


if __name__ == "__main__":
    main()
