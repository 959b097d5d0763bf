#!/usr/bin/env python3
"""Pod start and stop through Kubernetes' CRI, runcgo vs runc, on the CRI bench's containerd.

    python tests/bench/pod_bench.py [-n 10] [--quick] [--runcgo PATH] [--json FILE]

What a kubelet waits for: ``crictl run`` (RunPodSandbox with the pause container, then
CreateContainer + StartContainer of a busybox ``sleep``) until the container is
started, and the teardown ``crictl rmp -f`` (StopPodSandbox + RemovePodSandbox: both
containers killed and deleted, the netns and CNI torn down).  Each pod goes through
containerd 1.6's CRI plugin and containerd-shim-runc-v2, which calls the runtime of
the pod's handler: ``runc`` (/usr/sbin/runc) or ``test`` (runcgo).  Rounds alternate
the handler that goes first.  Reports the median and p90 of each and runcgo/runc as a
ratio of medians.  containerd, the shim, CNI and crictl's own start-up are in both
columns alike, so the ratio is smaller than a bare ``runc run`` comparison's.

Uses the bench in ../shared/suites/cri beside the checkout (or $RUNCGO_SUITES/cri);
brings it up if it is not (and then down again, checking nothing is left), reuses it
if it is.  Needs root.  Exit 2 (a skip for ``nox -s bench``) when the bench is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "suites"))

import cri_bench

IMAGE = "registry.k8s.io/e2e-test-images/busybox:1.29-2"
HANDLERS = {"runc": "runc", "runcgo": "test"}


def _configs(tmp: str, name: str) -> tuple[str, str]:
    """A pod and a container config as kubelet would send for the smallest real pod."""
    pod = {"metadata": {"name": name, "namespace": "runcgo-bench", "uid": name, "attempt": 0},
           "log_directory": tmp, "linux": {}}
    ctr = {"metadata": {"name": "sleep"}, "image": {"image": IMAGE},
           "command": ["sleep", "3600"], "log_path": f"{name}.log", "linux": {}}
    paths = []
    for kind, cfg in (("pod", pod), ("ctr", ctr)):
        p = os.path.join(tmp, f"{name}-{kind}.json")
        with open(p, "w") as f:
            json.dump(cfg, f)
        paths.append(p)
    return paths[0], paths[1]


def one_pod(tmp: str, name: str, handler: str) -> tuple[float, float]:
    """(seconds from RunPodSandbox to a started container, seconds to tear the pod down)."""
    pod_json, ctr_json = _configs(tmp, name)
    removed = False
    try:
        t0 = time.perf_counter()
        r = cri_bench.crictl("run", "--runtime", handler, ctr_json, pod_json)
        t1 = time.perf_counter()
        if r.returncode != 0:
            raise RuntimeError(f"crictl run ({handler}): {r.stderr.strip()}")
        pods = cri_bench.crictl("pods", "--name", f"^{name}$", "-q").stdout.split()
        st = cri_bench.crictl("inspect", "-o", "go-template", "--template", "{{.status.state}}",
                              r.stdout.strip())
        if st.stdout.strip() != "CONTAINER_RUNNING":
            raise RuntimeError(f"container of {name} ({handler}) is "
                               f"{st.stdout.strip() or st.stderr.strip()}")
        t2 = time.perf_counter()
        r = cri_bench.crictl("rmp", "-f", *pods)
        t3 = time.perf_counter()
        if r.returncode != 0:
            raise RuntimeError(f"crictl rmp ({handler}): {r.stderr.strip()}")
        removed = True
        return t1 - t0, t3 - t2
    finally:
        if not removed:  # a failed round leaves no pod in a bench someone else brought up
            left = cri_bench.crictl("pods", "--name", f"^{name}$", "-q").stdout.split()
            if left:
                cri_bench.crictl("rmp", "-f", *left)


def summary(samples: list[float]) -> str:
    s = sorted(samples)
    p90 = s[min(len(s) - 1, round(0.9 * (len(s) - 1)))]
    return f"{statistics.median(s) * 1000:7.0f} ms (p90 {p90 * 1000:5.0f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10, help="pods per runtime (default 10, the minimum "
                    "for a median worth quoting)")
    ap.add_argument("--quick", action="store_true", help="CI smoke: 3 pods per runtime")
    ap.add_argument("--suite", type=Path, default=cri_bench.default_suite())
    ap.add_argument("--runcgo", default="/usr/local/bin/runcgo",
                    help="runtime binary of handler 'test' (an executable file)")
    ap.add_argument("--json", metavar="FILE", help="write every sample as JSON")
    a = ap.parse_args()
    n = 3 if a.quick else a.n
    why = cri_bench.available(a.suite)
    if why:
        print(f"pod bench skipped: {why}")
        return 2
    runcgo = os.path.abspath(a.runcgo)
    was_up = cri_bench.is_up()
    before = cri_bench.snapshot()
    samples: dict[str, dict[str, list[float]]] = {k: {"start": [], "stop": []} for k in HANDLERS}
    failed = False
    try:
        cri_bench.up(a.suite, runcgo)  # idempotent; points handler "test" at runcgo
        with tempfile.TemporaryDirectory(prefix="runcgo-podbench-") as tmp:
            one_pod(tmp, "warmup-runc", "runc")  # first pod pays for image unpack, CNI setup
            one_pod(tmp, "warmup-runcgo", "test")
            order = list(HANDLERS)
            for i in range(n):
                for name in (order if i % 2 == 0 else order[::-1]):
                    start, stop = one_pod(tmp, f"pod-{name}-{i}", HANDLERS[name])
                    samples[name]["start"].append(start)
                    samples[name]["stop"].append(stop)
    except Exception as exc:  # report, then still tear down
        print(f"pod bench failed: {exc}", file=sys.stderr)
        failed = True
    finally:
        if not was_up:
            cri_bench.down(a.suite)
            left = cri_bench.leftovers(before)
            for item in left:
                print(f"left on the host after teardown: {item}", file=sys.stderr)
            failed = failed or bool(left)
    if failed:
        return 1
    print(f"\npod start/stop through containerd 1.6 CRI + shim, median of {n} "
          f"(runcgo = {runcgo})")
    print(f"{'':28}{'runcgo':>26}{'runc':>26}   runcgo/runc")
    for what, label in (("start", "RunPodSandbox -> started"), ("stop", "StopPod+RemovePod")):
        ours, theirs = samples["runcgo"][what], samples["runc"][what]
        ratio = statistics.median(ours) / statistics.median(theirs)
        print(f"{label:28}{summary(ours):>26}{summary(theirs):>26}   {ratio:5.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"n": n, "runcgo": runcgo, "samples": samples}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
