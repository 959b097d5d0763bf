"""`delete --force` of a paused container, as runc does it (at once).
Regression: a frozen init can't take its SIGKILL, so delete waited 10 s for
it, then failed with "remove cgroup ...: device or resource busy" and left
the container, its cgroups and its state in place."""

from __future__ import annotations

import time

import pytest

from harness import Runcgo
from hostcheck import TAG_VAR, leftovers

HOST_PIDNS = [{"type": t} for t in ("ipc", "uts", "mount", "network")]


@pytest.mark.parametrize("damaged", [False, True], ids=["healthy", "damaged-state"])
@pytest.mark.parametrize("shared_pidns", [False, True], ids=["own-pidns", "host-pidns"])
def test_delete_force_of_paused(runcgo: Runcgo, shared_pidns: bool, damaged: bool) -> None:
    cid, bundle = runcgo.bundle(["sh", "-c", "sleep 300 & sleep 300"])
    runcgo.edit(bundle, "process.env", ["PATH=/bin", f"{TAG_VAR}={cid}"])
    if shared_pidns:
        runcgo.edit(bundle, "linux.namespaces", HOST_PIDNS)
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    runcgo("exec", "-d", cid, "sleep", "300", check=True)
    runcgo("pause", cid, check=True)
    assert runcgo.state(cid)["status"] == "paused"
    if damaged:
        (runcgo.root / cid / "state.json").write_text("{")
    t0 = time.monotonic()
    r = runcgo("delete", "--force", cid)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert took < 5, f"delete --force of a paused container took {took:.1f} s"
    deadline = time.monotonic() + 3
    while leftovers(cid, str(runcgo.root)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert leftovers(cid, str(runcgo.root)) == []
