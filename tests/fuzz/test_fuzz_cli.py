"""Fuzzing through the real CLI: mostly-valid configs go through ``create``, ``start``
and ``delete --force``; process.json through ``exec --process`` and resources JSON
through ``update -r`` of a running container.

Property: a command is accepted (and the container runs), or it ends in one error
line with exit 1 (exec: any exit status, the process's own or runcgo's), never a
traceback; afterwards nothing is left behind (state dir, cgroup under the test
prefix, mount, process) and the host is unchanged (a few sysctls, the hostname,
/sys/fs/cgroup's filesystem type).  Configs are generated in ``safe`` mode (see
strategies.py): nothing in them can point a real create at a host resource.

$RUNCGO_FUZZ_EXAMPLES / 20 examples (at least 10) for create, / 40 for exec and update.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import strategies as F
from .test_fuzz_inprocess import base_config
from harness import CGROUP_ROOT, TEST_CG_PREFIX, Runcgo, cgroup_fs_type

pytestmark = pytest.mark.timeout(max(300, F.EXAMPLES // 5))
CLI = settings(max_examples=max(10, F.EXAMPLES // 20), deadline=None, database=None,
               suppress_health_check=list(HealthCheck))
CLI_SMALL = settings(CLI, max_examples=max(10, F.EXAMPLES // 40))
HOST_SYSCTLS = ("kernel.printk_ratelimit", "net.ipv4.ip_forward", "kernel.shmmni",
                "fs.mqueue.msg_max", "vm.swappiness", "kernel.domainname", "kernel.shmmax")
_ids = itertools.count()


def host_snapshot() -> dict[str, str]:
    snap = {k: Path("/proc/sys/" + k.replace(".", "/")).read_text() for k in HOST_SYSCTLS}
    snap["hostname"] = socket.gethostname()
    snap["cgroupfs"] = cgroup_fs_type()
    return snap


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if os.geteuid() != 0:
        pytest.skip("the CLI fuzz tier runs real containers and needs root")
    import bundles

    work = tmp_path_factory.mktemp("fuzzcli")
    bundles.make_rootfs(str(work / "rootfs"))
    (work / "seccomp-cache").mkdir(mode=0o700)
    rc = Runcgo(work / "state", work)
    before = host_snapshot()
    yield {"work": work, "runcgo": rc, "before": before,
           "env": {**os.environ, "RUNCGO_SECCOMP_CACHE": str(work / "seccomp-cache")}}
    after = host_snapshot()
    assert after["hostname"] == before["hostname"] and after["cgroupfs"] == before["cgroupfs"]


def leftovers(work: Path, rc: Runcgo, cid: str) -> list[str]:
    """What of container ``cid`` (or anything under ``work``) still exists."""
    out = []
    if (rc.root / cid).exists():
        out.append(f"state dir {cid}")
    for ctrl in os.listdir(CGROUP_ROOT):
        p = os.path.join(CGROUP_ROOT, ctrl, f"{TEST_CG_PREFIX}wta-fuzz-{cid}")
        if os.path.isdir(p):
            out.append(p)
    with open("/proc/self/mountinfo") as f:
        out += [f"mount {line.split()[4]}" for line in f if str(work) in line.split()[4]]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            root = os.readlink(f"/proc/{pid}/root")
        except OSError:
            continue
        if root.startswith(str(work)):
            out.append(f"process {pid} rooted in {root}")
    return out


def check_output(r: Any, ok_codes: tuple[int, ...] = (0, 1)) -> None:
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode in ok_codes, (r.returncode, r.stderr)
    errors = [ln for ln in r.stderr.splitlines() if "level=warning" not in ln]
    assert len(errors) <= 1, r.stderr
    if r.returncode == 1:
        assert len(errors) == 1 and errors[0].startswith("runcgo: "), r.stderr


@CLI
@given(data=st.data())
def test_create_start_delete(env: dict[str, Any], data: st.DataObject) -> None:
    work, rc = env["work"], env["runcgo"]
    cid = f"fz{next(_ids)}"
    bundle = work / f"bundle-{cid}"
    (bundle / "src").mkdir(parents=True)
    cfg = base_config(str(work / "rootfs"))
    cfg["linux"]["cgroupsPath"] = "/@CGPATH@"  # the same for every example: replays agree
    doc = data.draw(F.mutated(cfg, F.SPEC_PATHS, safe=True))
    raw = data.draw(F.as_bytes(doc))
    (bundle / "config.json").write_bytes(
        raw.replace(b"@CGPATH@", f"{TEST_CG_PREFIX}wta-fuzz-{cid}".encode()))
    try:
        r = rc("create", "--bundle", str(bundle), cid, env=env["env"], timeout=60)
        check_output(r)
        if r.returncode == 0:
            check_output(rc("start", cid, env=env["env"]))
        else:
            assert leftovers(work, rc, cid) == [], "a refused create left something behind"
    finally:
        d = rc("delete", "--force", cid, env=env["env"])
        check_output(d, (0,))
    assert leftovers(work, rc, cid) == []
    check_host(env, doc)


def check_host(env: dict[str, Any], doc: Any) -> None:
    """The host is as it was.  Other test runs on this machine may change a sysctl
    meanwhile (a runtime without the sysctl checks, under test): a change counts as
    ours only if this example's config asked for exactly the new value."""
    now = host_snapshot()
    asked: dict[str, Any] = {}
    if isinstance(doc, dict) and isinstance(doc.get("linux"), dict):
        sysctl = doc["linux"].get("sysctl")
        asked = sysctl if isinstance(sysctl, dict) else {}
    for key, value in now.items():
        if value == env["before"][key]:
            continue
        ours = key not in HOST_SYSCTLS or str(asked.get(key, "")).strip() == value.strip()
        assert not ours, f"host {key} changed from {env['before'][key]!r} to {value!r}"
        env["before"][key] = value  # someone else's change: judge later examples from here


@pytest.fixture(scope="module")
def running(env: dict[str, Any]) -> Iterator[str]:
    work, rc = env["work"], env["runcgo"]
    cid = "fzrun"
    bundle = work / "bundle-run"
    bundle.mkdir()
    cfg = base_config(str(work / "rootfs"))
    cfg["process"]["args"] = ["sleep", "3600"]
    cfg["linux"]["cgroupsPath"] = f"/{TEST_CG_PREFIX}wta-fuzz-{cid}"
    (bundle / "config.json").write_text(json.dumps(cfg))
    rc("run", "-d", "--bundle", str(bundle), cid, check=True, env=env["env"])
    yield cid
    rc("delete", "--force", cid, check=True)
    assert leftovers(work, rc, cid) == []


@CLI_SMALL
@given(data=st.data())
def test_exec_process_json(env: dict[str, Any], running: str, data: st.DataObject) -> None:
    rc = env["runcgo"]
    doc = data.draw(F.mutated(F.process_doc(), F.PROCESS_PATHS, safe=True,
                              unsafe=F.PROCESS_UNSAFE, safe_values=F.PROCESS_SAFE_VALUES))
    path = env["work"] / "process.json"
    path.write_bytes(data.draw(F.as_bytes(doc)))
    r = rc("exec", "--process", str(path), running, env=env["env"], timeout=60)
    check_output(r, tuple(range(256)))
    assert rc.state(running)["status"] == "running"


@CLI_SMALL
@given(data=st.data())
def test_update_resources(env: dict[str, Any], running: str, data: st.DataObject) -> None:
    rc = env["runcgo"]
    doc = data.draw(F.mutated(F.resources_doc(), F.RESOURCES_PATHS))
    path = env["work"] / "resources.json"
    path.write_bytes(data.draw(F.as_bytes(doc)))
    check_output(rc("update", "-r", str(path), running, env=env["env"]))
    assert rc.state(running)["status"] == "running"


# --- what the fuzzer found, kept as plain regression tests -----------------------

def test_found_terminal_exec_with_devnull_stdin(env: dict[str, Any], running: str) -> None:
    """process.json with "terminal": true, stdin /dev/null (a CI job, a service): the
    relay watched stdin with epoll, which refuses /dev/null (EPERM) -> a traceback."""
    path = env["work"] / "tty-process.json"
    path.write_text(json.dumps({"args": ["echo", "hi"], "cwd": "/", "terminal": True}))
    r = env["runcgo"]("exec", "--process", str(path), running)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    assert r.stdout.replace("\r", "") == "hi\n"
