"""Many containers created at once under one parent cgroup that does not exist yet
(the Kubernetes pod pattern: cgroupsPath /pod/c0 ... /pod/c7).

On a cgroup-v1 cpuset hierarchy a new directory starts with empty cpuset.cpus and
cpuset.mems and refuses tasks with ENOSPC until they are filled.  The create that
makes /pod fills it -- but another create can find /pod already there, make
/pod/c1 and copy /pod's still-empty values.  Every create must fill every level
it needs, whoever made it.
"""

from __future__ import annotations

import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import CGROUP_ROOT, TEST_CG_PREFIX, Runcgo

N, ROUNDS = 8, 10


def remove_pod(pod: str) -> None:
    """What kubelet does once the pod's containers are gone: remove the pod cgroup."""
    for ctrl in os.listdir(CGROUP_ROOT):
        p = os.path.join(CGROUP_ROOT, ctrl, pod.lstrip("/"))
        if os.path.isdir(p):
            os.rmdir(p)


@pytest.mark.parametrize("how", ["run", "create"])
def test_concurrent_creates_under_a_new_parent(runcgo: Runcgo, how: str) -> None:
    failures: list[str] = []
    noisy_deletes: list[str] = []
    for rnd in range(ROUNDS):
        pod = f"/{TEST_CG_PREFIX}wta-pod-{uuid.uuid4().hex[:6]}"
        made = []
        for k in range(N):
            cid, bundle = runcgo.bundle(["sleep", "300"])
            runcgo.edit(bundle, "linux.cgroupsPath", f"{pod}/c{k}")
            made.append((cid, bundle))
        argv = ("run", "-d") if how == "run" else ("create",)
        try:
            with ThreadPoolExecutor(N) as pool:
                results = list(pool.map(
                    lambda m, a=argv: runcgo(*a, "--bundle", str(m[1]), m[0]), made))
            failures += [f"round {rnd}: {r.stderr.strip()}" for r in results if r.returncode]
            cpuset = os.path.join(CGROUP_ROOT, "cpuset", pod.lstrip("/"))
            if os.path.isdir(cpuset):
                for level in (cpuset, os.path.join(cpuset, "c0")):
                    with open(os.path.join(level, "cpuset.cpus")) as f:
                        assert f.read().strip(), f"{level} has no cpus"
        finally:
            with ThreadPoolExecutor(N) as pool:
                deletes = list(pool.map(lambda m: runcgo("delete", "--force", m[0]), made))
            noisy_deletes += [r.stderr for r in deletes if r.stderr]
            remove_pod(pod)
    assert failures == [], f"{len(failures)} of {N * ROUNDS} creates failed: {failures[:3]}"
    assert noisy_deletes == [], noisy_deletes[:3]
    for cid, _ in made:
        assert not (runcgo.root / cid).exists()


def test_parent_made_by_someone_else_and_not_filled_yet(runcgo: Runcgo) -> None:
    """The race's losing side, made deterministic: /pod exists in the cpuset hierarchy
    but its cpus/mems are still empty (its maker has not filled them).  A create of
    /pod/c0 must fill /pod too, not copy its emptiness and fail to join."""
    pod = f"/{TEST_CG_PREFIX}wta-pod-{uuid.uuid4().hex[:6]}"
    cpuset = os.path.join(CGROUP_ROOT, "cpuset", pod.lstrip("/"))
    if not os.path.isdir(os.path.dirname(cpuset)):
        pytest.skip("no cgroup-v1 cpuset hierarchy")
    os.mkdir(cpuset)
    try:
        with open(os.path.join(cpuset, "cpuset.cpus")) as f:
            assert f.read().strip() == ""
        cid, bundle = runcgo.bundle(["true"])
        runcgo.edit(bundle, "linux.cgroupsPath", f"{pod}/c0")
        r = runcgo("run", "--bundle", str(bundle), cid)
        assert (r.returncode, r.stderr) == (0, ""), r.stderr
    finally:
        remove_pod(pod)


def test_kept_parent_is_a_debug_line(runcgo: Runcgo) -> None:
    """Deleting the container that made the shared parent keeps the parent (others
    live in it); that is routine, shown only with --debug."""
    pod = f"/{TEST_CG_PREFIX}wta-pod-{uuid.uuid4().hex[:6]}"
    ids = []
    for k in range(2):
        cid, bundle = runcgo.bundle(["sleep", "300"])
        runcgo.edit(bundle, "linux.cgroupsPath", f"{pod}/c{k}")
        runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
        ids.append(cid)
    try:
        r = runcgo("--debug", "--log-format", "json", "delete", "--force", ids[0])
        lines = [json.loads(line) for line in r.stderr.splitlines()]
        kept = [x for x in lines if "kept: it has child cgroups" in x["msg"]]
        assert kept and all(x["level"] == "debug" for x in kept), r.stderr
    finally:
        r = runcgo("delete", "--force", ids[1])
        remove_pod(pod)
    assert r.stderr == ""
