"""Commands racing each other on one container: whatever the interleaving, one
`delete --force` leaves nothing behind."""

from __future__ import annotations

import subprocess
import time

import pytest

from faultkit import COUNTS, Env, force_delete_and_check

HOST_PIDNS = [{"type": t} for t in ("ipc", "uts", "mount", "network")]


@pytest.mark.parametrize("rep", range(3))
@pytest.mark.parametrize("delay_ms", [0, 10, 25, 40])
@pytest.mark.parametrize("shared_pidns", [False, True], ids=["own-pidns", "host-pidns"])
def test_exec_racing_delete_force(env: Env, shared_pidns: bool, delay_ms: int, rep: int) -> None:
    edits = {"linux.namespaces": HOST_PIDNS} if shared_pidns else {}
    cid, bundle = env.bundle(**edits)
    assert env.cli("run", "-d", "--bundle", bundle, cid).returncode == 0
    execs = [env.spawn(cid, "exec", "-d", cid, "sleep", "200") for _ in range(2)]
    time.sleep(delay_ms / 1000)
    COUNTS["other"] = COUNTS.get("other", 0) + 1
    assert force_delete_and_check(env, cid) == []
    for p in execs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError("exec hung after its container was deleted") from None
