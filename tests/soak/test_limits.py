"""Limits an orchestrator hits at scale, met with a one-line error and nothing
left behind (issue 20): the pids limit of the supervising processes, the
API process's RLIMIT_NOFILE, a state root that fills up in the middle of a wave."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import uuid
from pathlib import Path

import pytest
from waves import Bundles, cgroup_dirs, remove_parent, tagged_processes

import runcgo

pytestmark = pytest.mark.anyio

PIDS = "/sys/fs/cgroup/pids"


def _left(root: str, parent: str, tag: str) -> list[str]:
    out = [f"state {n}" for n in os.listdir(root)] if os.path.isdir(root) else []
    out += [f"cgroup {d}" for d in cgroup_dirs(parent)]
    return out + [f"process {p}" for p in tagged_processes(tag)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_pids_limit_of_the_fork_servers(tmp_path: Path) -> None:
    """The fork servers' pids cgroup is full: create fails in one line naming
    the limit (it was a bare BlockingIOError), and works again once it is raised."""
    if not os.path.isdir(PIDS):
        pytest.skip("needs the v1 pids hierarchy (v2: the VM tier)")
    tag = f"scale-pids-{uuid.uuid4().hex[:6]}"
    parent = f"/runcgo-test-scale-{tag}"
    limited = os.path.join(PIDS, f"runcgo-test-scale-{tag}-servers")
    root = str(tmp_path / "state")
    b = Bundles(str(tmp_path), parent, tag, ["true"], 2)
    os.mkdir(limited)
    try:
        async with runcgo.Runtime(root=root, workers=1) as rt:
            home = {}
            for c in rt._clients:
                with open(f"/proc/{c.proc.pid}/cgroup") as f:
                    home[c.proc.pid] = next(ln.split(":", 2)[2].strip() for ln in f
                                            if ln.split(":")[1] == "pids")
                with open(os.path.join(limited, "cgroup.procs"), "w") as f:
                    f.write(str(c.proc.pid))
            with open(os.path.join(limited, "pids.max"), "w") as f:
                f.write(str(len(rt._clients)))
            try:
                with pytest.raises(runcgo.RuncgoError) as err:
                    async with rt.run(f"{tag}-0", b.paths[0], stdio="null"):
                        pass
                with open(os.path.join(limited, "pids.max"), "w") as f:
                    f.write("max")
                async with rt.run(f"{tag}-1", b.paths[1], stdio="null") as c:
                    assert await c.wait() == 0
            finally:
                with open(os.path.join(limited, "pids.max"), "w") as f:
                    f.write("max")
                for pid, path in home.items():
                    with open(os.path.join(PIDS, path.lstrip("/"), "cgroup.procs"), "w") as f:
                        f.write(str(pid))
        left = _left(root, parent, tag)
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(limited)
        remove_parent(parent)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("fork the container's init: resource temporarily unavailable"), msg
    assert "pids" in msg
    assert left == [], left


async def test_nofile_soft_limit_raised_and_emfile_in_one_line(tmp_path: Path) -> None:
    """A soft RLIMIT_NOFILE of 64 is raised to the hard limit when the Runtime
    opens (100 containers with pipes need ~300 fds); with no fd left, a
    create with pipes fails in one line and leaves nothing."""
    tag = f"scale-nofile-{uuid.uuid4().hex[:6]}"
    parent = f"/runcgo-test-scale-{tag}"
    root = str(tmp_path / "state")
    n = 100
    b = Bundles(str(tmp_path), parent, tag, ["sleep", "60"], n)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 1024:
        pytest.skip(f"hard RLIMIT_NOFILE {hard} is too low for this test")
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    try:
        import anyio

        async with runcgo.Runtime(root=root) as rt:
            assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard
            cs: list[runcgo.Container] = []

            async def make(k: int) -> None:
                cs.append(await rt.create(f"{tag}-{k}", b.paths[k], stdio="pipe"))

            async with anyio.create_task_group() as tg:
                for k in range(n - 1):
                    tg.start_soon(make, k)
            assert len(cs) == n - 1
            resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")), hard))
            fillers: list[int] = []
            try:
                with contextlib.suppress(OSError):
                    while True:  # take what is left below the limit
                        fillers.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
                with pytest.raises(runcgo.RuncgoError) as err:
                    await rt.create(f"{tag}-{n - 1}", b.paths[n - 1], stdio="pipe")
            finally:
                for fd in fillers:
                    os.close(fd)
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            for c in cs:
                await c.delete(force=True)
                await c.aclose()
        left = _left(root, parent, tag)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        remove_parent(parent)
    assert str(err.value).startswith("stdio pipes: too many open files (RLIMIT_NOFILE"), err.value
    assert left == [], left


def _mount_tmpfs(target: Path, size: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"tmpfs", str(target).encode(), b"tmpfs", 0,
                  f"size={size},mode=0755".encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount tmpfs on {target}: {os.strerror(err)}")


def _umount(target: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.umount2(str(target).encode(), 2)  # MNT_DETACH


async def test_state_root_fills_up_during_a_wave(tmp_path: Path) -> None:
    """A wave of 100 onto a state root with room for only some: the rest fail
    in one line naming the file and ENOSPC; after deleting, nothing is left."""
    import anyio

    tag = f"scale-full-{uuid.uuid4().hex[:6]}"
    parent = f"/runcgo-test-scale-{tag}"
    mnt = tmp_path / "tinyfs"
    mnt.mkdir()
    b = Bundles(str(tmp_path), parent, tag, ["sleep", "60"], 100)
    _mount_tmpfs(mnt, 512 * 1024)
    root = str(mnt / "state")
    made: list[runcgo.Container] = []
    errors: list[str] = []
    try:
        async with runcgo.Runtime(root=root) as rt:

            async def make(k: int) -> None:
                try:
                    made.append(await rt.create(f"{tag}-{k}", b.paths[k], stdio="null"))
                except runcgo.RuncgoError as e:
                    errors.append(str(e))

            async with anyio.create_task_group() as tg:
                for k in range(100):
                    tg.start_soon(make, k)
            for c in made:
                await c.delete(force=True)
        left = _left(root, parent, tag)
    finally:
        _umount(mnt)
        remove_parent(parent)
    assert made and errors, f"{len(made)} made, {len(errors)} failed: the tmpfs size is off"
    bad = [e for e in errors if "no space left on device" not in e or "\n" in e]
    assert bad == [], bad[:3]
    assert left == [], left[:5]
