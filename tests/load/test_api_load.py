"""200 containers in flight at once through the async API: create all, start
all, wait for all, delete all -- with memory and file descriptors watched."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import anyio
import pytest

import runcgo

import bundles
from conftest import REPORT
from harness import TEST_CG_PREFIX
from hostcheck import TAG_VAR, leftovers, tagged_processes

pytestmark = pytest.mark.anyio
N = int(os.environ.get("RUNCGO_LOAD_API", "200"))


def _fds(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _pss_kib(pid: int | str) -> int:
    """Proportional set size: shared (copy-on-write) pages split among their users,
    so summing it over many forked inits does not count the same page 200 times."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@pytest.mark.timeout(max(120, N // 2))
async def test_api_containers_in_flight(tmp_path: Path) -> None:
    tag = f"la{uuid.uuid4().hex[:8]}"
    root = str(tmp_path / "state")
    rootfs = bundles.make_rootfs(str(tmp_path / "rootfs"))
    made = []
    for k in range(N):
        cid = f"{tag}-{k}"
        path = str(tmp_path / f"bundle-{k}")
        bundles.shared_rootfs_bundle(path, rootfs, ["sleep", "4"], f"/{TEST_CG_PREFIX}{cid}",
                                     ["PATH=/bin", f"{TAG_VAR}={tag}"])
        made.append((cid, path))
    fds_before = _fds()
    codes: dict[str, int | None] = {}
    t0 = time.monotonic()
    async with runcgo.Runtime(root=root) as rt:
        servers = [c.proc.pid for c in rt._clients]
        server_fds_before = sum(_fds(p) for p in servers)
        containers: dict[str, runcgo.Container] = {}

        async def create(cid: str, bundle: str) -> None:
            containers[cid] = await rt.create(cid, bundle, stdio="null")

        async with anyio.create_task_group() as tg:
            for cid, bundle in made:
                tg.start_soon(create, cid, bundle)
        t_created = time.monotonic() - t0
        states = await rt.list()
        assert len(states) == N and {s.status for s in states} == {"created"}
        inits = [c.pid for c in containers.values()]
        pss_inits = sum(_pss_kib(p) for p in inits)
        pss_servers = sum(_pss_kib(p) for p in servers)
        peak_fds = _fds()
        peak_server_fds = sum(_fds(p) for p in servers)

        async def start(c: runcgo.Container) -> None:
            await c.start()

        async with anyio.create_task_group() as tg:
            for c in containers.values():
                tg.start_soon(start, c)
        in_flight = sum(1 for s in await rt.list() if s.status == "running")

        async def finish(c: runcgo.Container) -> None:
            codes[c.id] = await c.wait()
            await c.delete()

        async with anyio.create_task_group() as tg:
            for c in containers.values():
                tg.start_soon(finish, c)
        server_fds_after = sum(_fds(p) for p in servers)
    wall = time.monotonic() - t0
    time.sleep(0.2)
    left = leftovers(tag, root) + [f"process {p}" for p in tagged_processes(tag)]
    REPORT.append(
        f"load (API): {N} containers in flight ({in_flight} running at once), created in "
        f"{t_created:.1f} s, all done in {wall:.1f} s; PSS: inits {pss_inits // 1024} MiB "
        f"({pss_inits // max(N, 1)} KiB each), fork servers {pss_servers // 1024} MiB; fds: ours "
        f"{fds_before}->{peak_fds}->{_fds()}, fork servers {server_fds_before}->"
        f"{peak_server_fds}->{server_fds_after}; exit codes {sorted(set(codes.values()))}; "
        f"leftovers {len(left)}")
    assert set(codes.values()) == {0}, codes
    assert left == []
    assert not os.listdir(root)
    assert _fds() <= fds_before + 2, "the API leaks file descriptors"
    assert server_fds_after <= server_fds_before + 2, "the fork servers leak file descriptors"


ONE_SERVER = int(os.environ.get("RUNCGO_LOAD_ONE_SERVER", "1100"))


@pytest.mark.timeout(max(120, ONE_SERVER // 4))
async def test_one_fork_server_tracks_more_than_fd_setsize(tmp_path: Path) -> None:
    """One fork server holding a pidfd per container, past 1024 of them, with the
    API process itself at the common soft limit of 1024 fds.  Regression: its
    fds went past FD_SETSIZE and select() raised "filedescriptor out of range";
    the inits, inheriting ~1000 low fds, failed under their RLIMIT_NOFILE."""
    import resource

    tag = f"lo{uuid.uuid4().hex[:8]}"
    root = str(tmp_path / "state")
    rootfs = bundles.make_rootfs(str(tmp_path / "rootfs"))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    errors: list[str] = []
    t0 = time.monotonic()
    try:
        async with runcgo.Runtime(root=root, workers=1) as rt:
            containers: list[runcgo.Container] = []

            async def create(k: int) -> None:
                cid = f"{tag}-{k}"
                path = tmp_path / f"bundle-{k}"
                bundles.shared_rootfs_bundle(str(path), rootfs, ["sleep", "2"],
                                             f"/{TEST_CG_PREFIX}{cid}",
                                             ["PATH=/bin", f"{TAG_VAR}={tag}"])
                try:
                    containers.append(await rt.create(cid, str(path), stdio="null"))
                except runcgo.RuncgoError as exc:
                    errors.append(str(exc))

            async with anyio.create_task_group() as tg:
                for k in range(ONE_SERVER):
                    tg.start_soon(create, k)
            server_fds = max(_fds(c.proc.pid) for c in rt._clients)

            async def finish(c: runcgo.Container) -> None:
                try:
                    await c.start()
                    await c.wait()
                    await c.delete()
                except runcgo.RuncgoError as exc:
                    errors.append(str(exc))
                    await c.delete(force=True)

            async with anyio.create_task_group() as tg:
                for c in containers:
                    tg.start_soon(finish, c)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    wall = time.monotonic() - t0
    time.sleep(0.2)
    left = leftovers(tag, root)
    REPORT.append(f"load (API, one fork server): {ONE_SERVER} containers, {server_fds} fds "
                  f"in the fork server at peak, {len(errors)} errors, {len(left)} leftovers, "
                  f"{wall:.1f} s")
    assert errors == []
    assert left == []
