"""runc's own integration suite (bats, runc v1.1.5) against runc and runcgo, side by side.

    python tests/suites/runc_parity.py [--suite DIR] [--runcgo PATH] [--runc PATH] [--only a,b]

Runs ``run.sh`` of the suite (``../shared/suites/runc-integration`` beside the
checkout, or ``$RUNCGO_SUITES/runc-integration``) first with runc, then with
runcgo, on this machine, and compares test by test.  Exits 1 when a test that
passes with runc does not pass with runcgo (fails, or is skipped while runc ran
it), so a change of the machine shows in runc's column and a regression of
runcgo's in the verdict.  Tests runc fails here (the CRIU ones when criu is
installed) are not held against runcgo.

A regression's TAP log is printed in full.  The files holding regressions then
run once more with runcgo: a test that passes on that re-run is reported as
FLAKY with its first failure's log (so it is seen, and can be chased), and does
not fail the run; one that fails twice does.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent.parent

_TAP = re.compile(r"^(ok|not ok) \d+ (.*?)(?: # (skip|SKIP)\b.*)?$")


def default_suite() -> Path:
    base = os.environ.get("RUNCGO_SUITES")
    return Path(base) / "runc-integration" if base else CHECKOUT.parent / "shared" / "suites" / "runc-integration"


def parse_results(out_dir: Path) -> dict[str, str]:
    """``file: test name`` -> pass | fail | skip, from the TAP files run.sh leaves."""
    results: dict[str, str] = {}
    for tap in sorted(out_dir.glob("*.tap")):
        for line in tap.read_text(errors="replace").splitlines():
            m = _TAP.match(line)
            if m:
                status = "skip" if m.group(3) else ("pass" if m.group(1) == "ok" else "fail")
                results[f"{tap.stem}: {m.group(2)}"] = status
    return results


def totals(results: dict[str, str]) -> str:
    n = {k: sum(1 for v in results.values() if v == k) for k in ("pass", "fail", "skip")}
    return f"{n['pass']} passed, {n['fail']} failed, {n['skip']} skipped"


def wait_for_suite_lock(timeout: float = 300.0) -> None:
    """run.sh refuses to start while its work dir's lock is held, and a process
    of the previous run (a container or helper that inherited the lock's fd)
    can hold it for a moment after run.sh itself has ended: wait for it."""
    import fcntl
    import time

    work = Path(os.environ.get("SUITES_WORKDIR", "/var/tmp/runtime-suites")) / "runc-integration"
    lock = work / ".lock"
    if not lock.exists():
        return
    deadline = time.monotonic() + timeout
    with open(lock, "a") as f:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(f, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return  # run.sh will say who holds it
                time.sleep(1)


def run_suite(suite: Path, runtime: str, out: Path, only: str | None, tag: str) -> int:
    wait_for_suite_lock()
    cmd = ["bash", str(suite / "run.sh"), runtime, "--out", str(out), "--tag", tag]
    if only:
        cmd += ["--only", only]
    print(f"$ {' '.join(cmd)}", flush=True)
    return subprocess.run(cmd, stdin=subprocess.DEVNULL).returncode


def failure_log(out_dir: Path, name: str) -> str:
    """The TAP block of one failed test (its ``not ok`` line and the ``#`` lines after it)."""
    file, _, test = name.partition(": ")
    tap = out_dir / f"{file}.tap"
    if not tap.is_file():
        return f"(no {tap})"
    block: list[str] = []
    for line in tap.read_text(errors="replace").splitlines():
        m = _TAP.match(line)
        if m:
            if block:
                break
            if m.group(1) == "not ok" and m.group(2) == test:
                block.append(line)
        elif block:
            block.append(line)
    return "\n".join(block) or f"(no failure block for {test!r} in {tap})"


def compare(theirs: dict[str, str], ours: dict[str, str]) -> list[str]:
    """Tests runc passes and runcgo does not: the regressions."""
    return sorted(name for name, status in theirs.items()
                  if status == "pass" and ours.get(name) != "pass")


def rerun_regressions(a: argparse.Namespace, regressions: list[str]) -> list[str]:
    """Run the files holding regressions once more with runcgo; return the tests
    that fail again (the others are printed as FLAKY)."""
    files = sorted({name.partition(": ")[0] for name in regressions})
    out = a.out / "runcgo-rerun"
    for old in out.glob("*.tap"):
        old.unlink()
    print(f"\nre-running {', '.join(files)} with runcgo once", flush=True)
    rc = run_suite(a.suite, a.runcgo, out, ",".join(files), "runcgo-rerun")
    again = parse_results(out) if rc in (0, 1) else {}
    still = [name for name in regressions if again.get(name) != "pass"]
    for name in regressions:
        if name not in still:
            print(f"  FLAKY (failed once, passed on re-run): {name}")
    return still


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", type=Path, default=default_suite())
    ap.add_argument("--runcgo", default="/usr/local/bin/runcgo")
    ap.add_argument("--runc", default="/usr/sbin/runc")
    ap.add_argument("--only", help="comma-separated .bats files (default: all)")
    ap.add_argument("--out", type=Path, default=Path("/var/tmp/runcgo-runc-suite"))
    a = ap.parse_args()
    if not (a.suite / "run.sh").is_file():
        print(f"runc suite not found at {a.suite} (set RUNCGO_SUITES)", file=sys.stderr)
        return 2
    results = {}
    for tag, runtime in (("runc", a.runc), ("runcgo", a.runcgo)):
        out = a.out / tag
        for old in out.glob("*.tap"):
            old.unlink()
        rc = run_suite(a.suite, runtime, out, a.only, tag)
        if rc not in (0, 1):  # 2: setup error, 3: /sys/fs/cgroup changed type
            print(f"run.sh {runtime} ended with status {rc}: see {out}/summary.txt", file=sys.stderr)
            return 1
        results[tag] = parse_results(out)
    print(f"\nrunc-bats runc:   {totals(results['runc'])}")
    print(f"runc-bats runcgo: {totals(results['runcgo'])}")
    regressions = compare(results["runc"], results["runcgo"])
    for name in regressions:
        print(f"  passes with runc, not with runcgo ({results['runcgo'].get(name, 'missing')}): {name}")
        print("    " + failure_log(a.out / "runcgo", name).replace("\n", "\n    "))
    if regressions:
        regressions = rerun_regressions(a, regressions)
    if regressions:
        print(f"{len(regressions)} test(s) that pass with runc do not pass with runcgo "
              f"(logs: {a.out}/runcgo/*.tap)")
        return 1
    print("every test that passes with runc passes with runcgo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
