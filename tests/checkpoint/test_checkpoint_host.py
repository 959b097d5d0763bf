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
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import cgtree
from guest_cases import CASES, table
from test_checkpoint_vm import RUNC, _runcgo_cmd, _runtimes, assert_case

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

LAZY_WHY = ("criu 4.2.1's lazy restore never returns on this host's kernel, for runc as "
            "for runcgo (tried: `restore --lazy-pages` still running after 180 s); the "
            "guest tier runs this case")


PODMAN_WHY = ("podman calls the runtime without --criu: the criu in PATH, Debian's 3.17, "
              "which can't run on this kernel; the guest tier runs this case")


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
def host_criu() -> str:
    return _criu()


@pytest.fixture(scope="module")
def host_results(tmp_path_factory: pytest.TempPathFactory,
                 host_criu: str) -> dict[tuple[str, str], Any]:
    criu = host_criu
    pre_dump_why = _pre_dump_why(criu)
    skipped = {"lazy-pages": LAZY_WHY, "podman": PODMAN_WHY}
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
    assert_case(host_results, runtime, case, ("host", "output"))


def test_nothing_left_on_the_host(host_results: dict[tuple[str, str], Any]) -> None:
    """No cgroup below the cases' prefix in any hierarchy, no mount under their work dir
    (criu's cgroup yard, the restore's rootfs bind) once every case is done."""
    assert host_results[("host", "left")] == {"cgroups": [], "mounts": []}


def test_restore_killed_while_criu_runs_is_cleaned_by_delete_force(
        host_criu: str, tmp_path: Path) -> None:
    """SIGKILL of `runcgo restore` while criu works (criu, our child, goes on and
    restores the tree): `delete --force` kills what was restored, removes the cgroup,
    and detaches the rootfs bind criu restored into (a mount under the state dir that
    made `delete --force` fail with "is a directory" before)."""
    sys.path.insert(0, str(REPO / "tests"))
    import bundles

    cli = _runcgo_cmd().split()
    crit = tmp_path / "state" / "k" / "criu-root"
    root, bundle, img = tmp_path / "state", tmp_path / "bundle", tmp_path / "img"
    cgroup = f"/runcgo-test-crkill-{os.getpid()}"
    bundles.make_bundle(str(bundle), ["sh", "-c", "while true; do sleep 0.2; done"])
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["linux"]["cgroupsPath"] = cgroup
    (bundle / "config.json").write_text(json.dumps(cfg))
    slow = tmp_path / "slow-criu"
    slow.write_text(f'#!/bin/sh\n[ "$1" = restore ] && sleep 2\nexec {host_criu} "$@"\n')
    slow.chmod(0o755)

    def rt(*args: str, criu: str = host_criu) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, "--root", str(root), "--criu", criu, *args],
                              capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    try:
        # detached: its stdio must not be our pipes (we would wait for their EOF)
        assert subprocess.run([*cli, "--root", str(root), "run", "-d", "--bundle", str(bundle),
                               "k"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=60).returncode == 0
        r = rt("checkpoint", "--image-path", str(img), "k")
        assert r.returncode == 0, r.stderr
        p = subprocess.Popen([*cli, "--root", str(root), "--criu", str(slow), "restore", "-d",
                              "--image-path", str(img), "--bundle", str(bundle), "k"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not crit.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert crit.exists(), "the restore never bound its root"
        p.kill()
        p.wait()
        time.sleep(4)  # criu (its child) goes on: the tree is restored, orphaned
        procs = {pid for top in cgtree.tops(cgroup) for pid in
                 Path(top, "cgroup.procs").read_text().split()}
        assert procs, "criu restored nothing: the case did not happen"
        r = rt("delete", "--force", "k")
        assert r.returncode == 0, r.stderr
        assert "unmounted criu's restore root" in r.stderr
        assert not (root / "k").exists()
        assert str(root) not in Path("/proc/self/mountinfo").read_text()
        assert cgtree.tops(cgroup) == []
        # killed: gone, or a zombie until PID 1 (their parent now) reaps them
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(_dead(pid) for pid in procs):
            time.sleep(0.1)
        assert all(_dead(pid) for pid in procs), {pid: _dead(pid) for pid in procs}
    finally:
        subprocess.run([*cli, "--root", str(root), "delete", "--force", "k"],
                       capture_output=True, timeout=60)
        cgtree.remove_tree(cgroup)
        if os.path.ismount(crit):  # a runcgo without the fix: never leave the bind behind
            subprocess.run(["umount", "-l", str(crit)], check=False)


def _dead(pid: str) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status
