"""The async API's checkpoint/restore round trip, run INSIDE the guest (one backend a run).

One Runtime creates a counter with stdio pipes and checkpoints it; a second
Runtime with another state root restores it under a new ID with fresh pipes:
the counter's output continues on the new stdout, exec/kill/wait/delete work
on the restored Container; a restore cancelled mid-way leaves no container,
cgroup or mount.  Then a shell on a terminal (console=True) round-trips the same
way and answers on the restored terminal's new master.

    python tests/checkpoint/guest_api.py asyncio|trio WORKDIR
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from guest_cases import cg_exists, cg_procs, check, make_bundle

from runcgo.api import Runtime

COUNTER = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; echo $i > /count; sleep 0.2; done"]


async def last_number(stream: anyio.abc.ByteReceiveStream, above: int, timeout: float = 30) -> int:
    """Read the counter's stdout until it prints a number above ``above``."""
    buf = b""
    with anyio.fail_after(timeout):
        while True:
            buf += await stream.receive()
            nums = [int(x) for x in buf.split(b"\n")[:-1] if x.strip().isdigit()]
            if nums and nums[-1] > above:
                return nums[-1]


def mounts_under(path: Path) -> list[str]:
    return [ln.split()[4] for ln in Path("/proc/self/mountinfo").read_text().splitlines()
            if ln.split()[4].startswith(str(path))]


async def main(backend: str, work: Path) -> dict[str, float]:
    times: dict[str, float] = {}
    tag = backend[:4]
    cg = f"/cr-api-{tag}"
    bundle = make_bundle(work / "bundle", COUNTER, cg)
    img = work / "img"
    # One fork server each (plus the control one): Python starts slowly in the guest.
    async with Runtime(root=str(work / "root-a"), workers=1) as rt1, \
            Runtime(root=str(work / "root-b"), workers=1) as rt2:
        c = await rt1.create(f"cr-api-{tag}", bundle, stdio="pipe")
        await c.start()
        assert c.stdout is not None
        first = await last_number(c.stdout, 2)
        t0 = time.monotonic()
        await c.checkpoint(img)
        times["checkpoint_s"] = time.monotonic() - t0
        check(await c.wait() == 128 + signal.SIGKILL, "checkpointed init did not die by SIGKILL")
        check(not await rt1.list(), "the checkpointed container is still listed")
        await c.aclose()

        # A restore cancelled mid-way leaves nothing behind.
        with anyio.move_on_after(0.5) as scope:
            await rt2.restore(f"cr-api-{tag}-x", bundle, img, stdio="pipe",
                              work_path=work / "work-x")
        check(scope.cancelled_caught, "the restore was not cancelled")
        check(not await rt2.list(), "a cancelled restore left a container")
        check(not cg_exists(cg), "a cancelled restore left its cgroup")
        check(not mounts_under(work / "root-b"), "a cancelled restore left a mount")

        t0 = time.monotonic()
        r = await rt2.restore(f"cr-api-{tag}-new", bundle, img, stdio="pipe")
        times["restore_s"] = time.monotonic() - t0
        assert r.stdout is not None
        check((await r.state()).status == "running", "restored container not running")
        n = await last_number(r.stdout, first + 2)  # counts on, from the checkpoint
        check(n > first, f"restored counter at {n}, checkpoint at {first}")
        p = await r.exec(["cat", "/count"], stdio="pipe")
        assert p.stdout is not None
        out = b""
        async for chunk in p.stdout:
            out += chunk
        check(await p.wait() == 0 and int(out) > first, f"exec saw {out!r}")
        await p.aclose()
        procs = cg_procs(cg)
        check(str(r.pid) in procs, f"restored init {r.pid} not in {cg}: {procs}")
        await r.kill(signal.SIGKILL)
        check(await r.wait() == 128 + signal.SIGKILL, "wait() of the restored init")
        await r.delete()
        await r.aclose()
        check(not await rt2.list(), "restored container still listed after delete")
        check(not cg_exists(cg), "cgroup left after delete")
    return times


async def say(c: object, line: str, expect: str, timeout: float = 30) -> None:
    """Type on a console=True container's terminal; read until ``expect``."""
    stdin, stdout = c.stdin, c.stdout  # type: ignore[attr-defined]
    await stdin.send(line.encode() + b"\r")
    buf = b""
    with anyio.fail_after(timeout):
        while expect.encode() not in buf:
            buf += await stdout.receive()


async def terminal(backend: str, work: Path, times: dict[str, float]) -> None:
    """A shell on a terminal (console=True): checkpoint from one Runtime, restore
    with console=True in another: the same shell answers on the new master, and
    its `exit 5` is what wait() returns."""
    tag = backend[:4]
    cg = f"/cr-apit-{tag}"
    bundle = make_bundle(work / "tty-bundle", ["sh"], cg)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["terminal"] = True
    (bundle / "config.json").write_text(json.dumps(cfg))
    img = work / "tty-img"
    async with Runtime(root=str(work / "root-c"), workers=1) as rt1, \
            Runtime(root=str(work / "root-d"), workers=1) as rt2:
        c = await rt1.create(f"cr-apit-{tag}", bundle, console=True)
        await c.start()
        await say(c, "X=kept; echo $X-$((6*7))", "kept-42")
        t0 = time.monotonic()
        await c.checkpoint(img)
        times["tty_checkpoint_s"] = time.monotonic() - t0
        await c.wait()
        await c.aclose()
        check(not await rt1.list(), "the checkpointed terminal container is still listed")
        t0 = time.monotonic()
        r = await rt2.restore(f"cr-apit-{tag}-new", bundle, img, console=True)
        times["tty_restore_s"] = time.monotonic() - t0
        await say(r, "echo $X-$((20+3))", "kept-23")
        procs = cg_procs(cg)
        check(str(r.pid) in procs, f"restored shell {r.pid} not in {cg}: {procs}")
        assert r.stdin is not None
        await r.stdin.send(b"exit 5\r")
        check(await r.wait() == 5, "wait() of the restored shell is not its exit status 5")
        await r.delete()
        await r.aclose()
        check(not await rt2.list(), "restored terminal container still listed after delete")
        check(not cg_exists(cg), "cgroup left after delete")


async def both(backend: str, work: Path) -> dict[str, float]:
    times = await main(backend, work)
    await terminal(backend, work, times)
    return times


if __name__ == "__main__":
    backend, work = sys.argv[1], Path(sys.argv[2])
    result = anyio.run(both, backend, work, backend=backend)
    print(json.dumps(result))
