"""The async API when its fork server is SIGKILLed mid-create: every call
returns (an error, not a hang), and `delete --force` of every container leaves
nothing behind."""

from __future__ import annotations

import signal
import time

import anyio
import pytest

import runcgo

from faultkit import COUNTS, Env, force_delete_and_check

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("delay_ms", [5, 30, 80, 150])
async def test_fork_server_killed_mid_create(env: Env, delay_ms: int) -> None:
    made = [env.bundle() for _ in range(16)]
    results: dict[str, str] = {}

    async def create(rt: runcgo.Runtime, cid: str, bundle: str) -> None:
        try:
            c = await rt.create(cid, bundle, stdio="null")
            await c.start()
            results[cid] = "ok"
        except runcgo.RuncgoError as exc:
            results[cid] = str(exc)

    with anyio.fail_after(60):  # a call that hangs fails the test
        async with runcgo.Runtime(root=env.root, workers=2) as rt:
            victim = rt._clients[1].proc
            async with anyio.create_task_group() as tg:
                for cid, bundle in made:
                    tg.start_soon(create, rt, cid, bundle)
                await anyio.sleep(delay_ms / 1000)
                victim.send_signal(signal.SIGKILL)
                COUNTS["sent"] += 1
                COUNTS["landed"] += 1
    assert len(results) == len(made)
    assert any(r != "ok" for r in results.values()) or delay_ms >= 80, results
    time.sleep(0.05)
    for cid, _ in made:
        r = env.cli("delete", "--force", cid)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    for cid, _ in made:  # (each check also wants the whole root empty)
        assert force_delete_and_check(env, cid) == []
