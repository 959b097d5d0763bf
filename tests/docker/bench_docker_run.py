#!/usr/bin/env python3
"""Median wall time of `docker run --rm busybox:runcgo-test true` with runc vs runcgo.

Runs are interleaved (runc, runcgo, runcgo, runc, ...) so machine noise hits both alike.
Brings the engines up with scripts/docker-up.sh if needed (and stops them afterwards only if it
started them); builds the busybox image if missing (and removes it afterwards if it built it).

    python tests/docker/bench_docker_run.py -n 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dockertier as tier


def one_run(runtime: str, image: str) -> tuple[float, str | None]:
    t0 = time.perf_counter()
    p = tier.docker("run", "--rm", f"--runtime={runtime}", "--label", f"{tier.LABEL}=1", image,
                    "true", timeout=120)
    dt = time.perf_counter() - t0
    err = None if p.returncode == 0 else f"exit {p.returncode}: {p.stderr.strip()[-500:]}"
    return dt, err


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--runs", type=int, default=20, help="runs per runtime (default 20)")
    ap.add_argument("--runtimes", default="runc,runcgo", help="comma list (default runc,runcgo)")
    ap.add_argument("--image", default=tier.BUSYBOX_IMAGE)
    args = ap.parse_args()
    runtimes = args.runtimes.split(",")

    started = tier.engines_up()
    built = False
    try:
        if not tier.image_exists(args.image):
            tier.build_busybox_image(args.image)
            built = True
        times: dict[str, list[float]] = {rt: [] for rt in runtimes}
        errors: dict[str, list[str]] = {rt: [] for rt in runtimes}
        for rt in runtimes:  # warm-up (page cache, first-use costs), not counted
            one_run(rt, args.image)
        for i in range(args.runs):
            order = runtimes if i % 2 == 0 else runtimes[::-1]
            for rt in order:
                dt, err = one_run(rt, args.image)
                if err:
                    errors[rt].append(err)
                else:
                    times[rt].append(dt)
        print(f"docker run --rm {args.image} true  ({args.runs} interleaved runs per runtime)")
        med = {}
        for rt in runtimes:
            ts = sorted(times[rt])
            if ts:
                med[rt] = statistics.median(ts)
                print(f"  {rt:<8} median {med[rt] * 1000:7.1f} ms   min {ts[0] * 1000:7.1f} ms   "
                      f"max {ts[-1] * 1000:7.1f} ms   ok {len(ts)}/{args.runs}")
            else:
                print(f"  {rt:<8} no successful run")
            if errors[rt]:
                print(f"  {rt:<8} {len(errors[rt])} failed runs; first: {errors[rt][0]}")
        if len(runtimes) == 2 and all(rt in med for rt in runtimes):
            a, b = runtimes
            print(f"  ratio {b}/{a}: {med[b] / med[a]:.2f}")
        return 1 if any(errors.values()) else 0
    finally:
        tier.remove_labelled_containers()
        if built:
            tier.remove_images([args.image])
        if started:
            tier.engines_down()


if __name__ == "__main__":
    sys.exit(main())
