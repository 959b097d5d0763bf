"""The pod pattern through the async API: 8 containers created at once by one
Runtime, their cgroupsPath sharing a parent that does not exist yet
(/pod/c0 ... /pod/c7); ten rounds, no failure, nothing left behind."""

from __future__ import annotations

import os
import uuid

import anyio
import pytest

import runcgo

from apihelpers import Env
from harness import CGROUP_ROOT, TEST_CG_PREFIX

pytestmark = pytest.mark.anyio
N, ROUNDS = 8, 10


async def test_concurrent_creates_under_a_new_parent(env: Env) -> None:
    failures: list[str] = []
    async with runcgo.Runtime(root=env.root) as rt:
        for _ in range(ROUNDS):
            pod = f"{TEST_CG_PREFIX}wta-apipod-{uuid.uuid4().hex[:6]}"
            made = [env.bundle(["sleep", "300"], **{"linux.cgroupsPath": f"/{pod}/c{k}"})
                    for k in range(N)]
            containers: list[runcgo.Container] = []

            async def one(cid: str, bundle: str, into: list[runcgo.Container]) -> None:
                try:
                    into.append(await rt.create(cid, bundle, stdio="null"))
                except runcgo.RuncgoError as exc:
                    failures.append(str(exc))

            async with anyio.create_task_group() as tg:
                for cid, bundle in made:
                    tg.start_soon(one, cid, bundle, containers)
            async with anyio.create_task_group() as tg:
                for c in containers:
                    tg.start_soon(c.delete, True)
            for ctrl in os.listdir(CGROUP_ROOT):  # kubelet's part: the pod cgroup
                p = os.path.join(CGROUP_ROOT, ctrl, pod)
                if os.path.isdir(p):
                    os.rmdir(p)
            for cid, _ in made:
                assert not env.leftovers(cid)
    assert failures == [], f"{len(failures)} of {N * ROUNDS} creates failed: {failures[:3]}"
