"""Bad input: one clear line naming what is wrong, exit 1, and nothing left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness import TEST_CG_PREFIX, Runcgo


def assert_clean_failure(runcgo: Runcgo, r, cid: str, *needles: str) -> None:
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("runcgo: ")
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert not (runcgo.root / cid).exists(), "state dir left behind"
    for ctrl in ("memory", "pids", "cpu", "freezer"):
        assert not os.path.exists(f"/sys/fs/cgroup/{ctrl}/{TEST_CG_PREFIX}{cid}"), "cgroup left"
    with open("/proc/self/mountinfo") as f:
        assert cid not in f.read(), "mount left behind"


def create(runcgo: Runcgo, bundle: Path, cid: str):
    return runcgo("create", "--bundle", str(bundle), cid)


def test_malformed_json(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle()
    (bundle / "config.json").write_text('{"ociVersion": "1.0.2", "process": ')
    assert_clean_failure(runcgo, create(runcgo, bundle, cid), cid, "config.json: invalid JSON at offset 35 (line 1, column 36): expecting value")


def test_wrong_type_names_the_field(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(**{"process.user.uid": "0"})
    assert_clean_failure(runcgo, create(runcgo, bundle, cid), cid, "$.process.user.uid",
                         "int", "str")


def test_missing_args(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(**{"process.args": ...})
    assert_clean_failure(runcgo, create(runcgo, bundle, cid), cid, "$.process.args")


def test_mount_destination_with_dotdot(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle()
    escape = f"/tmp/runcgo-escape-{cid}"  # a host path nobody else has (a checkout may be /tmp/x)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["mounts"].append({"destination": f"/../../..{escape}", "type": "tmpfs", "source": "tmpfs"})
    (bundle / "config.json").write_text(json.dumps(cfg))
    assert_clean_failure(runcgo, create(runcgo, bundle, cid), cid, "$.mounts[7].destination",
                         f"/../../..{escape}")
    assert not os.path.exists(escape)


def test_mount_through_symlink_out_of_rootfs(runcgo: Runcgo, tmp_path: Path) -> None:
    cid, bundle = runcgo.bundle()
    victim = tmp_path / "victim"
    victim.mkdir()
    # a relative link that climbs out of the rootfs into the host
    rel = os.path.relpath(victim, bundle / "rootfs")
    os.symlink(rel, bundle / "rootfs" / "escape")
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["mounts"].append({"destination": "/escape/x", "type": "tmpfs", "source": "tmpfs"})
    (bundle / "config.json").write_text(json.dumps(cfg))
    assert_clean_failure(runcgo, create(runcgo, bundle, cid), cid, "escapes the rootfs", "/escape")
    assert list(victim.iterdir()) == []


def test_absolute_symlink_stays_inside_rootfs(runcgo: Runcgo, tmp_path: Path) -> None:
    """An absolute link is interpreted inside the rootfs (as runc does), never on the host."""
    cid, bundle = runcgo.bundle(["sh", "-c", "grep ' /target/x ' /proc/self/mountinfo"])
    os.symlink("/target", bundle / "rootfs" / "abs")
    hostdir = tmp_path / "hosttarget"
    hostdir.mkdir()
    os.symlink(str(hostdir), bundle / "rootfs" / "abs2")
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["mounts"].append({"destination": "/abs/x", "type": "tmpfs", "source": "tmpfs"})
    cfg["mounts"].append({"destination": "/abs2/y", "type": "tmpfs", "source": "tmpfs"})
    (bundle / "config.json").write_text(json.dumps(cfg))
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert (bundle / "rootfs" / "target" / "x").is_dir()
    assert list(hostdir.iterdir()) == []  # nothing created on the host side


def test_missing_rootfs(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(**{"root.path": "nonexistent"})
    assert_clean_failure(runcgo, create(runcgo, bundle, cid), cid, "$.root.path", "nonexistent")


def test_missing_config(runcgo: Runcgo, tmp_path: Path) -> None:
    r = runcgo("create", "--bundle", str(tmp_path / "nobundle"), "x1")
    assert_clean_failure(runcgo, r, "x1", "config.json", "does not exist")


def test_missing_executable(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["/no/such/program"])
    assert_clean_failure(runcgo, create(runcgo, bundle, cid), cid, "/no/such/program")
    cid2, bundle2 = runcgo.bundle(["nosuchcmd"])
    assert_clean_failure(runcgo, create(runcgo, bundle2, cid2), cid2,
                         'exec: "nosuchcmd": executable file not found in $PATH')


def test_create_of_existing_id(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sleep", "10"])
    runcgo("create", "--bundle", str(bundle), cid, check=True)
    r = create(runcgo, bundle, cid)
    assert r.returncode == 1 and "already exists" in r.stderr
    assert runcgo.state(cid)["status"] == "created"  # the first one is untouched
    runcgo("delete", "-f", cid, check=True)


@pytest.mark.parametrize("bad_id", ["../../etc", "a;b", "", "-x", "a/b", "x" * 1025])
def test_invalid_ids(runcgo: Runcgo, bad_id: str) -> None:
    _, bundle = runcgo.bundle()
    r = runcgo("create", "--bundle", str(bundle), "--", bad_id) if bad_id.startswith("-") else \
        runcgo("create", "--bundle", str(bundle), bad_id)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert "container id" in r.stderr
    assert not runcgo.root.exists() or list(runcgo.root.iterdir()) == []


def test_unknown_namespace(runcgo: Runcgo) -> None:
    # (an unknown capability is only a warning: test_capability_names.py)
    cid, bundle = runcgo.bundle(**{"linux.namespaces": [{"type": "pid"}, {"type": "bogus"}]})
    assert_clean_failure(runcgo, create(runcgo, bundle, cid), cid, "$.linux.namespaces[1].type",
                         "bogus")


def test_cap_the_host_cannot_grant(runcgo: Runcgo) -> None:
    caps = ["CAP_SYS_RESOURCE", "CAP_KILL"]
    cid, bundle = runcgo.bundle(**{"process.capabilities": {"bounding": caps, "effective": caps,
                                                             "permitted": caps}})
    assert_clean_failure(runcgo, create(runcgo, bundle, cid), cid, "CAP_SYS_RESOURCE")


def test_no_mount_namespace_refuses_mounts(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(**{"linux.namespaces": [{"type": "pid"}], "hostname": ...})
    assert_clean_failure(runcgo, create(runcgo, bundle, cid), cid, "mount namespace")


def test_missing_container_commands(runcgo: Runcgo) -> None:
    for cmd in (["state", "ghost"], ["kill", "ghost", "9"], ["delete", "ghost"], ["start", "ghost"]):
        r = runcgo(*cmd)
        assert r.returncode == 1, cmd
        assert r.stderr.strip() == f"runcgo: {cmd[0]} failed: container ghost does not exist"


def test_json_log_gets_the_error_line(runcgo: Runcgo, tmp_path: Path) -> None:
    cid, bundle = runcgo.bundle(["nosuchcmd"])
    logf = tmp_path / "log.json"
    r = runcgo("--log", str(logf), "--log-format", "json", "create", "--bundle", str(bundle), cid)
    assert r.returncode == 1
    last = json.loads(logf.read_text().splitlines()[-1])
    assert last["level"] == "error"
    assert 'executable file not found in $PATH' in last["msg"]
    assert last["time"].endswith("Z")
    assert not (runcgo.root / cid).exists()


def test_terminal_without_console_socket(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(**{"process.terminal": True})
    assert_clean_failure(runcgo, create(runcgo, bundle, cid), cid, "console-socket")
