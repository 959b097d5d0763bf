"""Waves of concurrent ``rt.run()`` under one shared parent cgroup, the parent
existing beforehand or made by the creates themselves (issue 20).

Every wave is 100 containers of ``true`` created, started, waited for and
deleted at once from one Runtime; the next wave reuses the same slots
(``parent/slotK``).  Any failed create fails the test, and so does anything
that grows or stays: state entries, cgroup directories below the parent,
container processes, the API process's and the fork servers' fds and threads.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import anyio
import pytest
from waves import Bundles, Wave, leftovers, make_parent, remove_parent, soak, waves_under_parent

import runcgo

from conftest import REPORT

WAVES = int(os.environ.get("RUNCGO_SOAK_WAVES", "10"))
BURST = int(os.environ.get("RUNCGO_SOAK_BURST", "500"))
WAVE = 100


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
@pytest.mark.parametrize("parent_before", ["existing", "absent"])
@pytest.mark.timeout(60 + WAVES * 10)
async def test_waves_under_a_shared_parent(tmp_path: Path, anyio_backend: str,
                                           parent_before: str) -> None:
    waves, left = await waves_under_parent(str(tmp_path), f"scale-soak-{uuid.uuid4().hex[:6]}",
                                           parent_before, WAVE, WAVES)
    failed = [f for w in waves for f in w.failures]
    first, last = waves[0], waves[-1]
    REPORT.append(
        f"soak ({anyio_backend}, parent {parent_before}): {WAVES * WAVE} containers in "
        f"{sum(w.seconds for w in waves):.1f} s ({WAVES * WAVE / sum(w.seconds for w in waves):.0f}"
        f"/s), {len(failed)} failed; API RSS {first.rss_kib // 1024}->{last.rss_kib // 1024} MB,"
        f" fds {first.fds}->{last.fds}, threads {first.threads}->{last.threads}; fork servers "
        f"RSS {first.server_rss_kib // 1024}->{last.server_rss_kib // 1024} MB, fds "
        f"{first.server_fds}->{last.server_fds}; left {len(left)}")
    assert failed == [], f"{len(failed)} of {WAVES * WAVE} failed: {failed[:3]}"
    assert left == [], left[:5]
    assert last.fds <= first.fds, "the API process's fds grew"
    assert last.threads <= first.threads, "the API process's threads grew"
    assert last.server_fds <= first.server_fds, "the fork servers' fds grew"


@pytest.mark.timeout(60 + BURST // 5)
def test_one_burst(tmp_path: Path) -> None:
    """BURST containers at once (asyncio) under one parent nobody made yet."""
    tag = f"scale-burst-{uuid.uuid4().hex[:6]}"
    parent = f"/runcgo-test-scale-{tag}"
    root = str(tmp_path / "state")
    b = Bundles(str(tmp_path), parent, tag, ["true"], BURST)

    async def burst() -> list[Wave]:
        async with runcgo.Runtime(root=root) as rt:
            return await soak(rt, b, 1)

    try:
        (wave,) = anyio.run(burst, backend="asyncio")
        left = leftovers(root, parent, tag)
    finally:
        remove_parent(parent)
    REPORT.append(f"soak burst: {BURST} at once in {wave.seconds:.1f} s, "
                  f"{len(wave.failures)} failed, left {len(left)}")
    assert wave.failures == [], f"{len(wave.failures)} of {BURST} failed: {wave.failures[:3]}"
    assert left == [], left[:5]


@pytest.mark.anyio
@pytest.mark.timeout(120)
async def test_cancelled_and_failed_creates_leave_nothing(tmp_path: Path) -> None:
    """A wave cancelled part-way (some containers created, some being created,
    some running) with one create in five failing (its program does not exist):
    the Runtime still closes, and nothing is left of any of them."""
    tag = f"scale-cancel-{uuid.uuid4().hex[:6]}"
    parent = f"/runcgo-test-scale-{tag}"
    root = str(tmp_path / "state")
    make_parent(parent)
    b = Bundles(str(tmp_path), parent, tag, ["sleep", "60"], WAVE)
    bad = Bundles(str(tmp_path), parent, f"{tag}x", ["/no/such/program"], WAVE // 5, slot="bad")
    failed: list[str] = []
    ran: list[str] = []
    try:
        async with runcgo.Runtime(root=root) as rt:

            async def one(k: int) -> None:
                path = bad.paths[k // 5] if k % 5 == 0 else b.paths[k]
                try:
                    async with rt.run(f"{tag}-{k}", path, stdio="null") as c:
                        ran.append(c.id)
                        if len(ran) == WAVE // 4:  # the rest still being made
                            tg.cancel_scope.cancel()
                        await c.wait()
                except runcgo.RuncgoError as e:
                    failed.append(str(e))

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    for k in range(WAVE):
                        tg.start_soon(one, k)
        left = leftovers(root, parent, tag)
    finally:
        remove_parent(parent)
    REPORT.append(f"soak cancel: {len(ran)} running and {len(failed)} failed when cancelled; "
                  f"left {len(left)}")
    assert len(ran) < WAVE - WAVE // 5, "the whole wave ran before the cancel: no test"
    assert [f for f in failed if "no/such/program" not in f] == []
    assert left == [], left[:5]
