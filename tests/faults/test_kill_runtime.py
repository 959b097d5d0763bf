"""SIGKILL of the runtime at every stage of create, exec and delete; then
`delete --force` must leave no process, mount, cgroup, netns or state entry.

Each stage is hit two ways: a sweep of fixed delays from the runtime's start
(its whole run is ~60-80 ms here, Python start-up included), and kills aimed
at a moment seen from outside (a file appearing, a hook starting).
"""

from __future__ import annotations

import json
import os
import time

import pytest

from faultkit import Env, force_delete_and_check, kill_after, kill_when
from hostcheck import tagged_processes

SWEEP_MS = list(range(0, 80, 2))


def _record_pid(env: Env, cid: str) -> int:
    try:
        return int(json.loads((env.state_dir(cid) / "init.json").read_text()).get("pid") or 0)
    except (OSError, ValueError):
        return 0


def _running(env: Env, args: list[str] | None = None, **edits: object) -> str:
    cid, bundle = env.bundle(args, **edits)
    r = env.cli("run", "-d", "--bundle", bundle, cid)
    assert r.returncode == 0, r.stderr
    return cid


# -- create ----------------------------------------------------------------


@pytest.mark.parametrize("delay_ms", SWEEP_MS)
def test_kill_create_after_delay(env: Env, delay_ms: int) -> None:
    cid, bundle = env.bundle()
    kill_after(env.spawn(cid, "create", "--bundle", bundle, cid), delay_ms / 1000)
    assert force_delete_and_check(env, cid) == []


@pytest.mark.parametrize("delay_ms", list(range(0, 100, 5)))
def test_kill_create_with_userns_after_delay(env: Env, delay_ms: int) -> None:
    """The user-namespace path: setup child, id maps written by us, then the init."""
    cid, bundle = env.bundle()
    env.userns(bundle)
    kill_after(env.spawn(cid, "create", "--bundle", bundle, cid), delay_ms / 1000)
    assert force_delete_and_check(env, cid) == []


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detached"])
@pytest.mark.parametrize("delay_ms", list(range(0, 100, 6)))
def test_kill_run_after_delay(env: Env, detach: bool, delay_ms: int) -> None:
    cid, bundle = env.bundle()
    args = ["run", *(["-d"] if detach else []), "--bundle", bundle, cid]
    kill_after(env.spawn(cid, *args), delay_ms / 1000)
    assert force_delete_and_check(env, cid) == []


@pytest.mark.parametrize("delay_ms", list(range(0, 50, 5)))
def test_kill_start_after_delay(env: Env, delay_ms: int) -> None:
    cid, bundle = env.bundle()
    assert env.cli("create", "--bundle", bundle, cid).returncode == 0
    kill_after(env.spawn(cid, "start", cid), delay_ms / 1000)
    assert force_delete_and_check(env, cid) == []


@pytest.mark.parametrize("stage", ["dir-made", "cgroup-recorded", "init-recorded",
                                   "init-recorded+2ms", "init-recorded+5ms", "state-written"])
@pytest.mark.parametrize("rep", range(2))
def test_kill_create_at_stage(env: Env, stage: str, rep: int) -> None:
    cid, bundle = env.bundle()
    d = env.state_dir(cid)
    conds = {
        "dir-made": lambda: d.exists(),
        "cgroup-recorded": lambda: (d / "init.json").exists(),
        "init-recorded": lambda: _record_pid(env, cid) > 0,
        "init-recorded+2ms": lambda: _record_pid(env, cid) > 0,
        "init-recorded+5ms": lambda: _record_pid(env, cid) > 0,
        "state-written": lambda: (d / "state.json").exists(),
    }
    p = env.spawn(cid, "create", "--bundle", bundle, cid)
    extra = {"init-recorded+2ms": 0.002, "init-recorded+5ms": 0.005}.get(stage, 0.0)
    if extra:
        while not conds[stage]() and p.poll() is None:
            time.sleep(0.0005)
        kill_after(p, extra)
    else:
        kill_when(p, conds[stage])
    assert force_delete_and_check(env, cid) == []


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
@pytest.mark.parametrize("delay_ms", [0, 20])
def test_kill_create_while_hook_runs(env: Env, kind: str, delay_ms: int) -> None:
    """A hook that sleeps: the runtime dies while it runs (prestart/createRuntime
    run in the runtime; createContainer in the init, between fork and ready)."""
    cid, bundle = env.bundle()
    marker = env.tmp / f"hook-started-{cid}"
    hook = env.hook(cid, kind, f"touch {marker}; sleep 5")
    with open(os.path.join(bundle, "config.json")) as f:
        cfg = json.load(f)
    cfg["hooks"] = {kind: [hook]}
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    p = env.spawn(cid, "create", "--bundle", bundle, cid)
    deadline = time.monotonic() + 10
    while not marker.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0005)
    assert marker.exists(), "the hook never ran"
    kill_after(p, delay_ms / 1000)
    assert force_delete_and_check(env, cid) == []


# -- exec ------------------------------------------------------------------


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detached"])
@pytest.mark.parametrize("delay_ms", list(range(0, 100, 5)))
def test_kill_exec_after_delay(env: Env, detach: bool, delay_ms: int) -> None:
    cid = _running(env)
    args = ["exec", *(["-d"] if detach else []), cid, "sleep", "200"]
    kill_after(env.spawn(cid, *args), delay_ms / 1000)
    assert force_delete_and_check(env, cid) == []


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detached"])
@pytest.mark.parametrize("shared_pidns", [False, True], ids=["own-pidns", "host-pidns"])
def test_kill_exec_once_process_runs(env: Env, detach: bool, shared_pidns: bool) -> None:
    """Killed once the exec'd process exists; with the host's pid namespace the
    init's death does not take the exec'd process along: the cgroup must."""
    edits: dict[str, object] = {}
    if shared_pidns:
        edits["linux.namespaces"] = [{"type": t} for t in ("ipc", "uts", "mount", "network")]
    cid = _running(env, **edits)
    base = len(tagged_processes(cid))
    p = env.spawn(cid, "exec", *(["-d"] if detach else []), cid, "sleep", "201")
    # the runtime itself is tagged too: wait for one more than it and the init
    kill_when(p, lambda: sum("sleep 201" in e for e in tagged_processes(cid)) > 0)
    assert len(tagged_processes(cid)) >= base
    assert force_delete_and_check(env, cid) == []


# -- delete ----------------------------------------------------------------


@pytest.mark.parametrize("delay_ms", list(range(0, 60, 3)))
def test_kill_delete_force_of_running(env: Env, delay_ms: int) -> None:
    cid = _running(env)
    kill_after(env.spawn(cid, "delete", "--force", cid), delay_ms / 1000)
    assert force_delete_and_check(env, cid) == []


@pytest.mark.parametrize("delay_ms", list(range(0, 60, 6)))
def test_kill_delete_of_stopped(env: Env, delay_ms: int) -> None:
    cid = _running(env, ["true"])
    deadline = time.monotonic() + 5
    while json.loads(env.cli("state", cid).stdout)["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    kill_after(env.spawn(cid, "delete", cid), delay_ms / 1000)
    assert force_delete_and_check(env, cid) == []


# -- pause / resume --------------------------------------------------------


@pytest.mark.parametrize("op", ["pause", "resume"])
@pytest.mark.parametrize("delay_ms", list(range(0, 50, 5)))
def test_kill_pause_resume_after_delay(env: Env, op: str, delay_ms: int) -> None:
    """A freezer left FREEZING or FROZEN by a killed pause/resume: delete --force
    must still get through (it thaws after the SIGKILL)."""
    cid = _running(env, ["sh", "-c", "sleep 300 & sleep 300"])
    if op == "resume":
        assert env.cli("pause", cid).returncode == 0
    kill_after(env.spawn(cid, op, cid), delay_ms / 1000)
    assert force_delete_and_check(env, cid) == []


@pytest.mark.parametrize("delay_ms", list(range(0, 60, 6)))
def test_kill_delete_force_of_paused(env: Env, delay_ms: int) -> None:
    cid = _running(env)
    assert env.cli("pause", cid).returncode == 0
    kill_after(env.spawn(cid, "delete", "--force", cid), delay_ms / 1000)
    assert force_delete_and_check(env, cid) == []
