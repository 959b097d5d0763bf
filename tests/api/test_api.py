"""The async API under asyncio and trio: lifecycle, streams, exec, events, errors,
cancellation, and sharing state with the CLI."""

from __future__ import annotations

import errno
import json
import os
import signal

import anyio
import pytest

import runcgo

from apihelpers import Env, pid_alive

pytestmark = pytest.mark.anyio


async def test_lifecycle(env: Env) -> None:
    cid, bundle = env.bundle(["sleep", "100"])
    async with runcgo.Runtime(root=env.root) as rt:
        c = await rt.create(cid, bundle, stdio="null")
        assert (await c.state()).status == "created"
        await c.start()
        st = await c.state()
        assert st.status == "running" and st.pid == c.pid
        await c.pause()
        assert (await c.state()).status == "paused"
        await c.resume()
        assert (await c.state()).status == "running"
        await c.update({"pids": {"limit": 50}})
        assert (await c.state()).config["linux"]["resources"]["pids"]["limit"] == 50
        assert [s.id for s in await rt.list()] == [cid]
        await c.kill(signal.SIGKILL)
        assert await c.wait() == 128 + signal.SIGKILL
        assert (await c.state()).status == "stopped"
        await c.delete()
        with pytest.raises(runcgo.ContainerNotFound):
            await c.state()
    assert not env.leftovers(cid)


async def test_fifty_containers_streamed(env: Env) -> None:
    """One loop reads the stdout of 50 containers at once; every line arrives."""
    n, lines = 50, 20
    made = [env.bundle(["sh", "-c", f"for i in $(seq {lines}); do echo $HOSTNAME $i; done"],
                       hostname=f"h{k}") for k in range(n)]
    out: dict[str, bytes] = {}
    codes: dict[str, int | None] = {}

    async def one(rt: runcgo.Runtime, cid: str, bundle: str) -> None:
        async with rt.run(cid, bundle, stdio="pipe") as c:
            assert c.stdout is not None
            buf = b""
            async for chunk in c.stdout:
                buf += chunk
            out[cid] = buf
            codes[cid] = await c.wait()

    async with runcgo.Runtime(root=env.root) as rt, anyio.create_task_group() as tg:
        for cid, bundle in made:
            tg.start_soon(one, rt, cid, bundle)
    for k, (cid, _) in enumerate(made):
        assert codes[cid] == 0
        assert out[cid].decode().splitlines() == [f"h{k} {i}" for i in range(1, lines + 1)]
        assert not env.leftovers(cid)


async def test_cancel_wait_keeps_container(env: Env) -> None:
    cid, bundle = env.bundle(["sleep", "100"])
    async with runcgo.Runtime(root=env.root) as rt:
        c = await rt.create(cid, bundle, stdio="null")
        await c.start()
        with anyio.move_on_after(0.2) as scope:
            await c.wait()
        assert scope.cancelled_caught
        assert (await c.state()).status == "running"
        await c.delete(force=True)
        assert await c.wait() == 128 + signal.SIGKILL
    assert not pid_alive(c.pid)
    assert not env.leftovers(cid)


async def test_cancel_run_leaves_nothing(env: Env) -> None:
    cid, bundle = env.bundle(["sleep", "100"])
    pids: list[int] = []
    async with runcgo.Runtime(root=env.root) as rt:
        with anyio.CancelScope() as scope:
            async with rt.run(cid, bundle, stdio="pipe") as c:
                pids.append(c.pid)
                scope.cancel()  # not a timer: a slow machine must not cancel the create
                await c.wait()
        assert scope.cancelled_caught
        assert pids and not pid_alive(pids[0])
        assert not env.leftovers(cid)
        assert await rt.list() == []


async def test_cancel_during_create_leaves_nothing(env: Env) -> None:
    """A create cancelled while the fork server works is undone once it replies."""
    cid, bundle = env.bundle(["sleep", "100"])
    async with runcgo.Runtime(root=env.root) as rt:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await rt.create(cid, bundle, stdio="pipe")
        assert scope.cancelled_caught
        assert not env.leftovers(cid)


async def test_exec_streams_and_exit_code(env: Env) -> None:
    cid, bundle = env.bundle(["sleep", "100"])
    async with runcgo.Runtime(root=env.root) as rt, rt.run(cid, bundle, stdio="null") as c:
        p = await c.exec(["sh", "-c", "read x; echo out $x; echo err $PWD >&2; exit 7"],
                         cwd="/tmp")
        assert p.stdin is not None and p.stdout is not None and p.stderr is not None
        await p.stdin.send(b"hello\n")
        await p.stdin.aclose()
        assert await p.stdout.receive() == b"out hello\n"
        assert await p.stderr.receive() == b"err /tmp\n"
        assert await p.wait() == 7
        await p.aclose()

        p = await c.exec(["sleep", "100"], stdio="null")
        await p.kill(signal.SIGTERM)
        assert await p.wait() == 128 + signal.SIGTERM

        p = await c.exec(["sh", "-c", "tty; exit 2"], tty=True)
        assert p.stdout is not None
        text = b""
        async for chunk in p.stdout:
            text += chunk
        assert text.startswith(b"/dev/pts/"), text
        assert await p.wait() == 2
        await p.aclose()


async def test_console(env: Env) -> None:
    cid, bundle = env.bundle(["sh", "-c", "tty; read x; echo got $x"], **{"process.terminal": True})
    async with runcgo.Runtime(root=env.root) as rt, rt.run(cid, bundle, console=True) as c:
        assert c.stdout is not None and c.stdin is not None and c.stderr is None
        await c.stdin.send(b"abc\n")
        text = b""
        async for chunk in c.stdout:
            text += chunk
        assert b"/dev/pts/0\r\n" in text and b"got abc\r\n" in text, text  # the pty echoes input
        assert await c.wait() == 0


async def test_oom_event(env: Env) -> None:
    limit = 32 << 20
    cid, bundle = env.bundle(["dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"],
                             **{"linux.resources.memory": {"limit": limit, "swap": limit}})
    async with runcgo.Runtime(root=env.root) as rt:
        c = await rt.create(cid, bundle, stdio="null")
        try:
            seen: list[runcgo.Event] = []
            async with c.events(interval=0.1) as events:
                await c.start()
                with anyio.fail_after(30):
                    async for ev in events:
                        seen.append(ev)
            kinds = [e.type for e in seen]
            assert "oom" in kinds and kinds[-1] == "exit", kinds
            assert seen[-1].data["status"] == 128 + signal.SIGKILL
            assert kinds[0] == "stats" and "memory" in seen[0].data
        finally:
            await c.delete(force=True)


async def test_typed_errors(env: Env) -> None:
    async with runcgo.Runtime(root=env.root) as rt:
        with pytest.raises(runcgo.ContainerNotFound):
            await rt.get("nope")

        cid, bundle = env.bundle(["true"], **{"process.user.uid": "root"})
        with pytest.raises(runcgo.ConfigError) as ce:
            await rt.create(cid, bundle)
        assert ce.value.path == "$.process.user.uid"

        cid, bundle = env.bundle(["true"])
        cfg_path = os.path.join(bundle, "config.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["mounts"].append({"destination": "/mnt", "type": "bind",
                              "source": "/nonexistent-runcgo-api", "options": ["bind"]})
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        with pytest.raises(runcgo.SetupError) as se:
            await rt.create(cid, bundle, stdio="null")
        assert se.value.errno == errno.ENOENT and se.value.op
        assert not env.leftovers(cid)

        cid, bundle = env.bundle(["true"])
        async with rt.run(cid, bundle, stdio="null") as c:
            with pytest.raises(runcgo.ContainerExists):
                await rt.create(cid, bundle)
            assert await c.wait() == 0
            with pytest.raises(runcgo.ContainerNotRunning):
                await c.kill()
            with pytest.raises(runcgo.ContainerNotRunning):
                await c.exec(["true"])


async def test_cli_and_api_share_state(env: Env) -> None:
    api_id, bundle = env.bundle(["sleep", "100"])
    cli_id, cli_bundle = env.bundle(["sleep", "100"])
    async with runcgo.Runtime(root=env.root) as rt, rt.run(api_id, bundle, stdio="null") as c:
        r = await anyio.to_thread.run_sync(env.cli, "list", "--format", "json")
        assert r.returncode == 0, r.stderr
        assert [x["id"] for x in json.loads(r.stdout)] == [api_id]
        r = await anyio.to_thread.run_sync(env.cli, "run", "-d", "-b", cli_bundle, cli_id)
        assert r.returncode == 0, r.stderr
        assert sorted(s.id for s in await rt.list()) == sorted([api_id, cli_id])
        other = await rt.get(cli_id)
        assert (await other.state()).status == "running"
        await other.kill(signal.SIGKILL)
        with anyio.fail_after(10):
            assert await other.wait() is None  # not ours to reap: status unknown
        await other.delete()
        r = await anyio.to_thread.run_sync(env.cli, "kill", api_id, "KILL")
        assert r.returncode == 0, r.stderr
        assert await c.wait() == 128 + signal.SIGKILL


async def test_api_process_never_forks(env: Env) -> None:
    """Only spawns (fork+exec in C) happen here: no os.fork of the loop's process."""
    forks: list[int] = []
    os.register_at_fork(before=lambda: forks.append(os.getpid()))
    cid, bundle = env.bundle(["sh", "-c", "echo ok; read x"])
    async with runcgo.Runtime(root=env.root) as rt, rt.run(cid, bundle, stdio="pipe") as c:
        assert c.stdout is not None and c.stdin is not None
        assert await c.stdout.receive() == b"ok\n"
        p = await c.exec(["true"], stdio="null")
        assert await p.wait() == 0
        await c.stdin.send(b"\n")
        assert await c.wait() == 0
    assert forks == []
