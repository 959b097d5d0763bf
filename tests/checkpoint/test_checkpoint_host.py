"""The checkpoint tier's round trips on THIS host (cgroup v1 hybrid), with a criu built here.

Debian bookworm's criu 3.17 cannot run on this kernel (>= 6.13: the vDSO); criu 4.2
can.  scripts/build-criu.sh builds it once from Debian unstable's source package
(~45 s, cached in /var/cache/runcgo-criu); when it can't (no route to the archive, a
build failure) every case here skips with its one-line reason.  The same cases as the
guest's (guest_cases.py), for runcgo and for runc with the same criu as the control:
this is where the cgroup-v1 side of checkpoint/restore is tested (the guest is pure
cgroup v2) -- the container's v1 cgroup mount (a tmpfs of per-hierarchy binds, each
external to criu, as runc declares them), and the restored init back in every
hierarchy's cgroup.

Not here, with the reason each skip names: ``--pre-dump`` (this kernel has no
CONFIG_MEM_SOFT_DIRTY: criu's memory tracking is off), and ``--lazy-pages`` (the lazy
restore never returns on this kernel with criu 4.2.1, for runc as for runcgo; the guest
runs that case).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import cgtree
from guest_cases import CASES, table
from test_checkpoint_vm import RUNC, _runcgo_cmd, _runtimes

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

LAZY_WHY = ("criu 4.2.1's lazy restore never returns on this host's kernel, for runc as "
            "for runcgo (tried: `restore --lazy-pages` still running after 180 s); the "
            "guest tier runs this case")


def _criu() -> str:
    if os.geteuid() != 0:
        pytest.skip("checkpoint/restore needs root")
    p = subprocess.run(["bash", str(REPO / "scripts/build-criu.sh")], capture_output=True,
                       text=True, timeout=900)
    if p.returncode != 0:
        pytest.skip(f"no criu that works on this kernel: {p.stderr.strip()[-300:]}")
    criu = p.stdout.strip().splitlines()[-1]
    check = subprocess.run([criu, "check"], capture_output=True, text=True, timeout=120)
    if check.returncode != 0:
        pytest.skip(f"{criu} check fails here: {(check.stderr or check.stdout).strip()[-300:]}")
    return criu


def _pre_dump_why(criu: str) -> str | None:
    p = subprocess.run([criu, "check", "--feature", "mem_dirty_track"], capture_output=True,
                       text=True, timeout=60)
    if p.returncode == 0:
        return None
    line = (p.stderr or p.stdout).strip().splitlines()[-1:] or [f"exit {p.returncode}"]
    return (f"criu check --feature mem_dirty_track: {line[0]} (the kernel lacks "
            "CONFIG_MEM_SOFT_DIRTY: --pre-dump can't work here; the guest tier runs it)")


@pytest.fixture(scope="module")
def host_results(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    criu = _criu()
    pre_dump_why = _pre_dump_why(criu)
    skipped = {"lazy-pages": LAZY_WHY}
    if pre_dump_why:
        skipped["pre-dump+parent+foreground"] = pre_dump_why
    work = tmp_path_factory.mktemp("cr-host")
    prefix = f"/runcgo-test-crhost-{os.getpid()}"
    out = work / "results.json"
    cmd = [sys.executable, str(REPO / "tests/checkpoint/guest_cases.py"), "--out", str(out),
           "--criu", criu, "--cgroup-prefix", prefix, "--work", str(work / "w"),
           "--runtime", f"runcgo={_runcgo_cmd()} --criu {criu}"]
    if "runc" in _runtimes():
        cmd += ["--runtime", f"runc={RUNC} --criu {criu}"]
    for case in CASES:
        if case not in skipped:
            cmd += ["--case", case]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=1100)
        # what the cases left on the host, before anything is cleaned up for them
        left_cgroups = cgtree.tops(prefix) and cgtree.cgroup_dirs(prefix)
        left_mounts = [ln.split()[4] for ln in Path("/proc/self/mountinfo").read_text()
                       .splitlines() if str(work) in ln.split()[4]]
    finally:
        cgtree.remove_tree(prefix)
    if not out.exists():
        pytest.fail(f"no results (exit {p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    rows = json.loads(out.read_text())
    print(f"\nhost (cgroup v1 hybrid, {criu}):\n" + table(rows))
    by: dict[tuple[str, str], Any] = {(r["runtime"], r["case"]): r for r in rows}
    by[("host", "skipped")] = skipped
    by[("host", "left")] = {"cgroups": left_cgroups, "mounts": left_mounts}
    by[("host", "output")] = {"stdout": p.stdout, "stderr": p.stderr}
    return by


@pytest.mark.parametrize("runtime", ["runcgo", "runc"])
@pytest.mark.parametrize("case", [*CASES, "nothing-left"])
def test_round_trip_on_the_host(host_results: dict[tuple[str, str], Any], runtime: str,
                                case: str) -> None:
    if runtime not in _runtimes():
        pytest.skip(f"{RUNC} is not installed: no control run")
    why = host_results[("host", "skipped")].get(case)
    if why:
        pytest.skip(why)
    r = host_results.get((runtime, case))
    assert r is not None, f"nothing reported for {runtime}/{case}: " \
        f"{host_results[('host', 'output')]['stderr'][-2000:]}"
    assert r["ok"], r["error"]


def test_nothing_left_on_the_host(host_results: dict[tuple[str, str], Any]) -> None:
    """No cgroup below the cases' prefix in any hierarchy, no mount under their work dir
    (criu's cgroup yard, the restore's rootfs bind) once every case is done."""
    assert host_results[("host", "left")] == {"cgroups": [], "mounts": []}
