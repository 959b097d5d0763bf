"""The checkpoint tier: CRIU round trips in the Debian-kernel guest, runcgo beside runc.

The host's kernel (>= 6.13) can't run Debian bookworm's criu 3.17 (vDSO); the
QEMU guest of tests/vm boots Debian's own 6.1 kernel, where it works.  ONE guest
runs tests/checkpoint/guest_cases.py for runcgo and for runc (the control): a
counter that counts on after restore, ``--leave-running`` then a new ID,
``--pre-dump`` then ``--parent-path``, a TCP listener with ``--tcp-established``,
a shell on a terminal through console sockets (criu's RPC), ``--lazy-pages`` with
``criu lazy-pages``, restore-time hooks, and nothing left afterwards; then the
async API's round trips (pipes, and a terminal with ``console=True``) on asyncio
and trio (guest_api.py).  Each (runtime, case) is one test here, and the summary table is
printed at the end.  ``nox -s checkpoint``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from guest_cases import CASES, table

import vmtier

RUNC = "/usr/sbin/runc"
REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _runcgo_cmd() -> str:
    """The CLI of this checkout, as the guest will call it."""
    if os.environ.get("RUNCGO_CLI"):
        return os.environ["RUNCGO_CLI"]
    exe = shutil.which("runcgo", path=os.path.dirname(sys.executable))
    return exe or f"{sys.executable} -m runcgo"


def _runtimes() -> list[str]:
    names = ["runcgo"]
    if os.path.exists(RUNC):
        names.append("runc")
    return names


@pytest.fixture(scope="module")
def guest_results(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    why = vmtier.vm_unavailable_reason()
    if why:
        pytest.skip(f"the checkpoint tier needs the QEMU guest: {why}")
    if shutil.which("criu") is None:
        pytest.skip("criu is not installed (scripts/bootstrap.sh --tests installs it)")
    out = tmp_path_factory.mktemp("checkpoint-vm")
    results = out / "results.json"
    cmd = [sys.executable, str(REPO / "tests/checkpoint/guest_cases.py"), "--out", str(results),
           "--runtime", f"runcgo={_runcgo_cmd()}"]
    if "runc" in _runtimes():
        cmd += ["--runtime", f"runc={RUNC}"]
    cmd.append("--api")
    argv = vmtier.launcher_argv(cmd, timeout=float(os.environ.get("RUNCGO_VM_TIMEOUT", 800)),
                                shares=[str(out)], cwd=str(REPO),
                                env={"PYTHONPATH": str(REPO)})
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode == vmtier.VM_FAILURE and not results.exists():
        pytest.fail(f"the guest failed: {p.stderr.strip()[-2000:]}")
    if not results.exists():
        pytest.fail(f"no results from the guest (exit {p.returncode}):\n{p.stdout[-3000:]}\n"
                    f"{p.stderr[-3000:]}")
    rows = json.loads(results.read_text())
    print("\n" + table(rows))
    by = {(r["runtime"], r["case"]): r for r in rows}
    by[("guest", "output")] = {"stdout": p.stdout, "stderr": p.stderr}
    return by


CASE_IDS = [*CASES, "nothing-left", "api-asyncio", "api-trio"]


@pytest.mark.parametrize("runtime", ["runcgo", "runc"])
@pytest.mark.parametrize("case", CASE_IDS)
def test_round_trip(guest_results: dict[tuple[str, str], Any], runtime: str, case: str) -> None:
    if runtime not in _runtimes():
        pytest.skip(f"{RUNC} is not installed: no control run")
    if case.startswith("api-") and runtime != "runcgo":
        pytest.skip("the async API is runcgo's own")
    assert_case(guest_results, runtime, case, ("guest", "output"))


def assert_case(results: dict[tuple[str, str], Any], runtime: str, case: str,
                output: tuple[str, str]) -> None:
    """One (runtime, case) row of guest_cases.py's results: reported, then skipped with
    its reason or passed (else its error); ``output`` keys the run's stdout/stderr."""
    r = results.get((runtime, case))
    assert r is not None, f"nothing reported for {runtime}/{case}: " \
        f"{results[output]['stderr'][-2000:]}"
    if r.get("skip"):
        pytest.skip(r["skip"])
    assert r["ok"], r["error"]


def test_lsm_profile_as_runc(guest_results: dict[tuple[str, str], Any]) -> None:
    """`restore --lsm-profile apparmor:NAME`: the restored init's AppArmor label is
    runc's with the same criu, before (the config's apparmorProfile) and after (the
    profile asked for)."""
    if "runc" not in _runtimes():
        pytest.skip(f"{RUNC} is not installed: no control run")
    ours, theirs = guest_results.get(("runcgo", "lsm-profile")), \
        guest_results.get(("runc", "lsm-profile"))
    assert ours is not None and theirs is not None
    if ours.get("skip") or theirs.get("skip"):
        pytest.skip(ours.get("skip") or theirs.get("skip"))
    assert ours["ok"] and theirs["ok"], (ours["error"], theirs["error"])
    print(f"\nAppArmor label before/after restore --lsm-profile: runcgo {ours['observed']}, "
          f"runc {theirs['observed']}")
    assert ours["observed"] == theirs["observed"]
