"""The Kubernetes CRI validation suite (critest v1.26.1 through containerd 1.6's CRI plugin)
with runc and with runcgo as the pod runtime handler, side by side, in one session.

    python tests/suites/cri_parity.py [--suite DIR] [--runcgo PATH] [--only-runcgo]
                                      [-- extra critest flags, e.g. -ginkgo.focus=NoNewPrivs]

Brings the bench up (``../shared/suites/cri`` beside the checkout, or
``$RUNCGO_SUITES/cri``), runs ``critest.sh runc`` then ``critest.sh test`` with
``RUNTIME_BINARY`` = runcgo (default /usr/local/bin/runcgo), prints both totals and
compares spec by spec: exit 1 when a spec that passes with runc does not pass with
runcgo.  Specs runc fails here (the digest-pinned image, impossible offline) are not
held against runcgo.  Always tears the bench down (cri-down.sh) and then checks that
nothing is left: no containerd, shim or registry of the bench, no mount (netns
included) under its state or critest's temp dir, no crib0 bridge, no k8s.io cgroup
that was not there before; anything left also fails the run.  Directories the
bench's containerd and shims made under /sys/fs/cgroup (its cgroupfs driver mkdirs
hierarchies this hybrid host does not mount, e.g. hugetlb, net_cls) are removed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import cri_bench

import hostcheck

PASS, FAIL, SKIP = "pass", "fail", "skip"


def parse_report(path: Path) -> dict[str, str]:
    """Spec name -> pass | fail | skip, from critest's ginkgo JSON report.

    Names are built as critest.sh builds them (container texts + the leaf text).  A
    failing setup node (BeforeSuite …) counts as a failed spec named after its kind, so
    a suite that could not start never looks like a clean run."""
    results: dict[str, str] = {}
    for rep in json.loads(path.read_text()):
        for s in rep.get("SpecReports") or []:
            state = s.get("State")
            if s.get("LeafNodeType") != "It":
                if state not in ("passed", "skipped", "pending"):
                    results[f"[{s.get('LeafNodeType')}]"] = FAIL
                continue
            name = " ".join([*(s.get("ContainerHierarchyTexts") or []), s.get("LeafNodeText", "")])
            results[name] = (PASS if state == "passed"
                             else SKIP if state in ("skipped", "pending") else FAIL)
    return results


def totals(results: dict[str, str]) -> str:
    n = {k: sum(1 for v in results.values() if v == k) for k in (PASS, FAIL, SKIP)}
    return f"{n[PASS]} passed, {n[FAIL]} failed, {n[SKIP]} skipped"


def compare(theirs: dict[str, str], ours: dict[str, str]) -> list[str]:
    """Specs runc passes and runcgo does not (failed, skipped or missing): regressions."""
    return sorted(name for name, status in theirs.items()
                  if status == PASS and ours.get(name) != PASS)


def run_critest(suite: Path, handler: str, runtime: str | None, extra: list[str]) -> Path | None:
    """critest.sh HANDLER; the path of its JSON report, or None if it could not run."""
    env = dict(os.environ)
    if runtime:
        env["RUNTIME_BINARY"] = runtime
    cmd = ["bash", str(suite / "critest.sh"), handler, *extra]
    print(f"$ {' '.join(cmd)}" + (f"   (RUNTIME_BINARY={runtime})" if runtime else ""), flush=True)
    rc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL).returncode
    report = cri_bench.workdir() / "results" / f"{handler}.json"
    if rc not in (0, 1) or not report.is_file():  # 2: setup error
        print(f"critest.sh {handler} ended with status {rc}", file=sys.stderr)
        return None
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", type=Path, default=cri_bench.default_suite())
    ap.add_argument("--runcgo", default="/usr/local/bin/runcgo",
                    help="the runtime binary behind handler 'test' (an executable file)")
    ap.add_argument("--only-runcgo", action="store_true",
                    help="skip the runc run (compare with nothing; totals only)")
    ap.add_argument("critest_args", nargs="*", help="passed to critest (after --)")
    a = ap.parse_args()
    why = cri_bench.available(a.suite)
    if why:
        print(why, file=sys.stderr)
        return 2
    runcgo = os.path.abspath(a.runcgo)
    if not (os.path.isfile(runcgo) and os.access(runcgo, os.X_OK)):
        print(f"runcgo binary {runcgo} is not an executable file (--runcgo)", file=sys.stderr)
        return 2
    before = cri_bench.snapshot()
    cgroup_dirs_before = hostcheck.cgroup_dirs()
    results: dict[str, dict[str, str]] = {}
    status = 0
    try:
        cri_bench.up(a.suite, runcgo)
        runs = [("test", runcgo)] if a.only_runcgo else [("runc", None), ("test", runcgo)]
        for handler, runtime in runs:
            report = run_critest(a.suite, handler, runtime, a.critest_args)
            if report is None:
                return 1
            results[handler] = parse_report(report)
    finally:
        if cri_bench.down(a.suite) != 0:
            print("cri-down.sh reported something left behind", file=sys.stderr)
            status = 1
        left = cri_bench.leftovers(before)
        left += [f"cgroup dir {d}" for d in hostcheck.remove_new_cgroup_dirs(cgroup_dirs_before)]
        for item in left:
            print(f"left on the host after teardown: {item}", file=sys.stderr)
        if left:
            status = 1
        else:
            print("teardown: no containerd, shim, netns, bridge, mount or k8s.io cgroup left")
    if "runc" in results:
        print(f"\ncritest runc:   {totals(results['runc'])}")
    print(f"critest runcgo: {totals(results['test'])}   ({runcgo})")
    if "runc" not in results:
        return status
    regressions = compare(results["runc"], results["test"])
    for name in regressions:
        print(f"  passes with runc, not with runcgo ({results['test'].get(name, 'missing')}): {name}")
    if regressions:
        print(f"{len(regressions)} spec(s) that pass with runc do not pass with runcgo "
              f"(see {cri_bench.workdir()}/results/test.txt)")
        return 1
    print("every spec that passes with runc passes with runcgo")
    return status


if __name__ == "__main__":
    sys.exit(main())
