"""State damaged on disk (a runtime killed mid-write, a full disk, a hand edit):
`state` and `delete` say so in one line; `delete --force` still removes the
init, its cgroups and the directory -- where runc gives up."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness import Runcgo
from hostcheck import TAG_VAR, leftovers, tagged_cgroups


def _truncate(d: Path) -> None:
    data = (d / "state.json").read_bytes()
    (d / "state.json").write_bytes(data[: len(data) // 2])


def _empty(d: Path) -> None:
    (d / "state.json").write_bytes(b"")


def _missing(d: Path) -> None:
    (d / "state.json").unlink()


def _partial(d: Path) -> None:
    """What a kill in the middle of writing it leaves: half a temporary file."""
    data = (d / "state.json").read_bytes()
    (d / ".state.json.tmp").write_bytes(data[:100])
    (d / "state.json").unlink()


def _not_an_object(d: Path) -> None:
    (d / "state.json").write_text('["x"]')


DAMAGE = {"truncated": _truncate, "empty": _empty, "missing": _missing, "partial": _partial,
          "not-an-object": _not_an_object}
REASON = {"truncated": "invalid JSON", "empty": "empty", "missing": "missing",
          "partial": "missing", "not-an-object": "not a JSON object"}


def _container(runcgo: Runcgo, running: bool) -> tuple[str, int]:
    cid, bundle = runcgo.bundle(["sleep", "300"])
    runcgo.edit(bundle, "process.env", ["PATH=/bin", f"{TAG_VAR}={cid}"])
    runcgo("create", "--bundle", str(bundle), cid, check=True)
    if running:
        runcgo("start", cid, check=True)
    pid = runcgo.state(cid)["pid"]
    assert os.path.exists(f"/proc/{pid}")
    return cid, pid


def _gone(pid: int, start: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return True
    fields = stat.rsplit(b")", 1)[1].split()
    return fields[0] in (b"Z", b"X") or fields[19] != start


def _start_time(pid: int) -> bytes:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()[19]


@pytest.mark.parametrize("running", [False, True], ids=["created", "running"])
@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_force_delete_cleans_up_damaged_state(runcgo: Runcgo, kind: str, running: bool) -> None:
    cid, pid = _container(runcgo, running)
    start = _start_time(pid)
    DAMAGE[kind](runcgo.root / cid)
    for cmd in (("state", cid), ("delete", cid)):
        r = runcgo(*cmd)
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "damaged" in lines[0] and REASON[kind] in lines[0], r.stderr
        assert "Traceback" not in r.stderr
    assert not _gone(pid, start), "a plain delete must not touch it"
    r = runcgo("delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and f"killed init {pid}" in line, r.stderr
    assert "removed cgroup" in line and "removed state dir" in line
    deadline = time.monotonic() + 5
    while not _gone(pid, start) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _gone(pid, start)
    assert leftovers(cid, str(runcgo.root)) == []
    assert runcgo("list", "-q").stdout == ""


@pytest.mark.parametrize("record", ["removed", "garbage"])
def test_no_record_uses_the_default_cgroup_path(runcgo: Runcgo, record: str) -> None:
    """Only the exec FIFO left (both files gone, or the record unusable): the cgroup
    is found where create puts it when the config names no cgroupsPath."""
    cid, bundle = runcgo.bundle(["sleep", "300"])
    runcgo.edit(bundle, "linux.cgroupsPath", ...)
    runcgo.edit(bundle, "process.env", ["PATH=/bin", f"{TAG_VAR}={cid}"])
    runcgo("create", "--bundle", str(bundle), cid, check=True)
    pid = runcgo.state(cid)["pid"]
    assert tagged_cgroups(cid), "the default cgroup path is named after the ID"
    (runcgo.root / cid / "state.json").unlink()
    if record == "removed":
        (runcgo.root / cid / "init.json").unlink()
    else:
        (runcgo.root / cid / "init.json").write_text('{"pid": "x", "hooks": 3, "cgroup": []}')
    r = runcgo("delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    assert "killed 1 process in its cgroup" in r.stderr and "removed cgroup" in r.stderr
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}/cmdline") and _gone(pid, b"") is False and \
            time.monotonic() < deadline:
        time.sleep(0.02)
    assert leftovers(cid, str(runcgo.root)) == []


def test_recycled_pid_is_never_killed(runcgo: Runcgo, tmp_path: Path) -> None:
    """An init record naming a pid that now belongs to someone else (another start
    time): that process lives."""
    import json
    import subprocess

    cid, _pid = _container(runcgo, running=False)
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        d = runcgo.root / cid
        rec = json.loads((d / "init.json").read_text())
        real = rec["pid"]
        rec["pid"] = bystander.pid
        (d / "init.json").write_text(json.dumps(rec))
        _missing(d)
        r = runcgo("delete", "--force", cid)
        assert r.returncode == 0, r.stderr
        assert "killed init" not in r.stderr
        assert bystander.poll() is None, "a process that is not the init was killed"
        assert "killed 1 process in its cgroup" in r.stderr  # the real init, by its cgroup
        assert _gone(real, b"")  or not os.path.exists(f"/proc/{real}")
        assert leftovers(cid, str(runcgo.root)) == []
    finally:
        bystander.kill()
        bystander.wait()


def test_delete_force_waits_for_a_create_under_way(runcgo: Runcgo, tmp_path: Path) -> None:
    """A directory without state.json whose create is still running is not damage:
    `state` says it does not exist (yet), `delete --force` waits for the create."""
    import subprocess

    from harness import runcgo_cmd

    cid, bundle = runcgo.bundle(["sleep", "300"])
    hook = tmp_path / "slow-hook.sh"
    hook.write_text("#!/bin/sh\nsleep 1\n")
    hook.chmod(0o755)
    runcgo.edit(bundle, "hooks", {"createRuntime": [{"path": str(hook)}]})
    creator = subprocess.Popen([*runcgo_cmd(), "--root", str(runcgo.root), "create",
                                "--bundle", str(bundle), cid],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not (runcgo.root / cid / "init.json").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        r = runcgo("state", cid)
        assert r.returncode == 1 and "does not exist" in r.stderr, r.stderr
        r = runcgo("delete", "--force", cid)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        assert creator.wait(timeout=10) == 0
    finally:
        if creator.poll() is None:
            creator.kill()
            creator.wait()
    assert leftovers(cid, str(runcgo.root)) == []
