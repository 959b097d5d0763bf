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


_DRIVER = """
import sys, anyio, runcgo
root, ids, bundles = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
async def one(rt, cid, b):
    c = await rt.create(cid, b, stdio="null")
    await c.start()
async def main():
    async with runcgo.Runtime(root=root, workers=2) as rt, anyio.create_task_group() as tg:
        for cid, b in zip(ids, bundles):
            tg.start_soon(one, rt, cid, b)
        await anyio.sleep(60)
anyio.run(main)
"""


@pytest.mark.parametrize("delay_ms", [100, 300, 600, 1000])
def test_api_process_killed(env: Env, delay_ms: int) -> None:
    """The process embedding the API dies mid-way: its fork servers exit, the
    containers stay (as with runc), and delete --force cleans each up."""
    import os
    import subprocess
    import sys

    from hostcheck import TAG_VAR, tagged_processes

    made = [env.bundle() for _ in range(8)]
    tag = made[0][0]
    proc = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, env.root, ",".join(c for c, _ in made),
         ",".join(b for _, b in made)],
        env=dict(os.environ, **{TAG_VAR: tag}), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay_ms / 1000)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    COUNTS["sent"] += 1
    COUNTS["landed"] += proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10  # the fork servers (tagged like their parent) exit
    while any("_forkserver" in p for p in tagged_processes(tag)):
        assert time.monotonic() < deadline, tagged_processes(tag)
        time.sleep(0.05)
    for cid, _ in made:
        r = env.cli("delete", "--force", cid)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    for cid, _ in made:
        assert force_delete_and_check(env, cid) == []
