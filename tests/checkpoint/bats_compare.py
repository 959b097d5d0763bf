"""runc's checkpoint.bats in the QEMU guest, for runc and for runcgo, side by side.

    python tests/checkpoint/bats_compare.py [--out DIR] [--runtime runc|runcgo]...

Each runtime gets its own guest boot (tests/vm/launch.py) running
tests/checkpoint/bats_guest.sh, which copies the runtime onto the guest's tmpfs and
runs ../shared/suites/runc-integration/run.sh --only checkpoint.  Prints one row per
test (ok / FAIL / skip for each runtime) and exits 1 if a test that passes with runc
does not pass with runcgo (or a guest gives no TAP output at all).  ``nox -s
checkpoint_bats`` runs it; it is not in CI (2-3 minutes per runtime under
emulation; the lazy-pages test's 2 s is a thin margin for both runtimes there).  Hold /work/suite.lock, as for the suites on the host.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.vm import vmtier  # noqa: E402

TAP_LINE = re.compile(r"^(ok|not ok) (\d+) (.*?)(?: # skip.*)?$")


def parse_tap(path: Path) -> dict[str, str]:
    """test name -> ok | FAIL | skip, from a run.sh TAP file."""
    out: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        m = TAP_LINE.match(line)
        if m:
            out[m.group(3)] = "skip" if "# skip" in line else ("ok" if m.group(1) == "ok" else "FAIL")
    return out


def run_one(rt: str, out: Path) -> tuple[dict[str, str], float, int]:
    argv = vmtier.launcher_argv(["sh", str(REPO / "tests/checkpoint/bats_guest.sh")],
                                timeout=1500, shares=[str(out)], cwd=str(REPO),
                                env={"RT": rt, "OUT": str(out), "REPO": str(REPO)})
    t0 = time.monotonic()
    with open(out / f"{rt}.log", "wb") as log:
        rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT).returncode
    tap = out / f"bats-{rt}" / "checkpoint.tap"
    return (parse_tap(tap) if tap.exists() else {}), time.monotonic() - t0, rc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="/var/tmp/runcgo-cr-bats",
                    help="results (shared with the guest; not under /tmp, the guest's own)")
    ap.add_argument("--runtime", action="append", choices=["runc", "runcgo"])
    a = ap.parse_args()
    why = vmtier.vm_unavailable_reason()
    if why:
        print(f"bats_compare: the guest cannot boot here: {why}", file=sys.stderr)
        return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, str]] = {}
    for rt in a.runtime or ["runc", "runcgo"]:
        res, took, rc = run_one(rt, out)
        results[rt] = res
        counts = {k: sum(v == k for v in res.values()) for k in ("ok", "FAIL", "skip")}
        print(f"{rt}: {counts['ok']} passed, {counts['FAIL']} failed, {counts['skip']} skipped "
              f"in {took:.0f} s (guest exit {rc}; log {out / (rt + '.log')})", flush=True)
    names = list(dict.fromkeys(n for r in results.values() for n in r))
    width = max((len(n) for n in names), default=10)
    print(f"{'test':{width}} | " + " | ".join(f"{rt:6}" for rt in results))
    for n in names:
        print(f"{n:{width}} | " + " | ".join(f"{results[rt].get(n, '-'):6}" for rt in results))
    if any(not r for r in results.values()):
        print("bats_compare: a guest gave no TAP output", file=sys.stderr)
        return 1
    if "runc" in results and "runcgo" in results:
        worse = [n for n in names if results["runc"].get(n) == "ok"
                 and results["runcgo"].get(n) != "ok"]
        if worse:
            print(f"bats_compare: pass with runc, not with runcgo: {worse}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
