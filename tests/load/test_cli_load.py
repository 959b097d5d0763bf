"""8 workers driving create/start/state/exec/kill/delete cycles through the CLI
at once: every command succeeds, nothing leaks, the state root ends empty."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import bundles
from conftest import REPORT
from harness import TEST_CG_PREFIX, runcgo_cmd
from hostcheck import TAG_VAR, leftovers

WORKERS = 8
CYCLES = int(os.environ.get("RUNCGO_LOAD_CYCLES", "160"))


class _Cli:
    def __init__(self, root: str) -> None:
        self.root = root

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run([*runcgo_cmd(), "--root", self.root, *args], stdout=out,
                               stderr=err, text=True, stdin=subprocess.DEVNULL, timeout=120)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())


@pytest.mark.timeout(max(120, CYCLES))  # ~0.2-0.3 s a cycle on 2 busy cores
def test_cli_cycles_under_load(tmp_path: Path) -> None:
    tag = f"ld{uuid.uuid4().hex[:8]}"
    root = str(tmp_path / "state")
    rootfs = bundles.make_rootfs(str(tmp_path / "rootfs"))
    cli = _Cli(root)
    failures: list[str] = []
    done = [0]
    lock = threading.Lock()

    def bundle(worker: int) -> str:
        path = str(tmp_path / f"bundle-{worker}")
        bundles.shared_rootfs_bundle(path, rootfs, ["sleep", "300"],
                                     f"/{TEST_CG_PREFIX}{tag}-w{worker}",
                                     ["PATH=/bin", f"{TAG_VAR}={tag}"])
        return path

    def step(cid: str, *args: str, want: str | None = None) -> bool:
        r = cli(*args)
        ok = r.returncode == 0 and (want is None or want in r.stdout)
        if not ok:
            with lock:
                failures.append(f"{cid} {' '.join(args[:2])}: rc={r.returncode} "
                                f"{r.stderr.strip()[:300]} {r.stdout.strip()[:100]}")
        return ok

    def worker(n: int, cycles: int) -> None:
        b = bundle(n)
        for i in range(cycles):
            cid = f"{tag}-w{n}-{i}"
            ok = (step(cid, "create", "--bundle", b, cid)
                  and step(cid, "start", cid)
                  and step(cid, "state", cid, want='"running"')
                  and step(cid, "exec", cid, "sh", "-c", "test -d /proc/1")
                  and step(cid, "kill", cid, "KILL"))
            if ok:
                deadline = time.monotonic() + 10
                while '"stopped"' not in cli("state", cid).stdout:
                    if time.monotonic() > deadline:
                        with lock:
                            failures.append(f"{cid}: not stopped 10 s after kill")
                        break
                    time.sleep(0.02)
                ok = step(cid, "delete", cid)
            if not ok:
                cli("delete", "--force", cid)
            with lock:
                done[0] += 1

    t0 = time.monotonic()
    per = [CYCLES // WORKERS + (1 if k < CYCLES % WORKERS else 0) for k in range(WORKERS)]
    with ThreadPoolExecutor(WORKERS) as pool:
        for f in [pool.submit(worker, k, per[k]) for k in range(WORKERS)]:
            f.result()
    wall = time.monotonic() - t0
    time.sleep(0.2)
    left = leftovers(tag, root)
    listed = cli("list", "-q").stdout.strip()
    REPORT.append(f"load (CLI): {done[0]} cycles by {WORKERS} workers in {wall:.1f} s, "
                  f"{len(failures)} failures, {len(left)} leftovers, list: {listed or 'empty'}")
    assert failures == []
    assert left == []
    assert listed == ""
    assert not os.listdir(root)
