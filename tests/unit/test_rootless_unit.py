"""Rootless decisions without a real unprivileged user: --rootless parsing, the
default root, when a mapping needs newuidmap, and the cgroup drivers skipping
what they may not create (on fake trees).  The real thing: tests/rootless."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from runcgo.errors import InvalidArgument
from runcgo.kernel import idmap, rootless
from runcgo.kernel.cgroups import CgroupError, v1, v2
from runcgo.spec import IDMapping, LinuxDevice, LinuxMemory, LinuxPids, LinuxResources


@pytest.mark.parametrize(("value", "want"), [
    ("auto", None), ("", None), ("true", True), ("1", True), ("T", True), ("TRUE", True),
    ("false", False), ("0", False), ("F", False), ("False", False)])
def test_parse_rootless(value: str, want: bool | None) -> None:
    assert rootless.parse_rootless(value) is want


def test_parse_rootless_refuses_other_words() -> None:
    with pytest.raises(InvalidArgument, match='parsing "yes": invalid syntax'):
        rootless.parse_rootless("yes")


@pytest.mark.parametrize(("euid", "in_userns", "systemd", "want"), [
    (1000, False, False, True), (0, False, False, False), (0, True, False, True),
    (0, True, True, False), (1000, True, True, True)])
def test_auto_rootless_cgroups(monkeypatch: pytest.MonkeyPatch, euid: int, in_userns: bool,
                               systemd: bool, want: bool) -> None:
    monkeypatch.setattr(rootless.os, "geteuid", lambda: euid)
    monkeypatch.setattr(rootless, "running_in_userns", lambda: in_userns)
    assert rootless.use_rootless_cgroups("auto", systemd) is want
    assert rootless.use_rootless_cgroups("true", systemd) is True
    assert rootless.use_rootless_cgroups("false", systemd) is False


@pytest.mark.parametrize(("euid", "in_userns", "user", "xdg"), [
    (1000, False, "alice", True), (0, False, "root", False), (0, True, "root", False),
    (0, True, "alice", True), (0, True, None, True)])
def test_default_root(monkeypatch: pytest.MonkeyPatch, euid: int, in_userns: bool,
                      user: str | None, xdg: bool) -> None:
    monkeypatch.setattr(rootless.os, "geteuid", lambda: euid)
    monkeypatch.setattr(rootless, "running_in_userns", lambda: in_userns)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    if user is None:
        monkeypatch.delenv("USER", raising=False)
    else:
        monkeypatch.setenv("USER", user)
    want = ("/run/user/1000/runcgo", True) if xdg else ("/run/runcgo", False)
    assert rootless.default_root("/run/runcgo") == want
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert rootless.default_root("/run/runcgo") == ("/run/runcgo", False)


def test_make_xdg_root_is_sticky(tmp_path: Path) -> None:
    d = tmp_path / "xdg" / "runcgo"
    rootless.make_xdg_root(str(d))
    assert d.stat().st_mode & 0o7777 == 0o1700


def test_needs_mapping_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idmap.os, "getegid", lambda: 1001)
    own = [IDMapping(container_id=0, host_id=1001, size=1)]
    assert not idmap.needs_mapping_tool(own)
    assert idmap.needs_mapping_tool([*own, IDMapping(container_id=1, host_id=100000, size=10)])
    assert idmap.needs_mapping_tool([IDMapping(container_id=0, host_id=1002, size=1)])
    assert idmap.needs_mapping_tool(None)


def _no_permission_below(monkeypatch: pytest.MonkeyPatch, denied: Path) -> None:
    """mkdir under ``denied`` fails as an unprivileged user's would (EACCES)."""
    real = v1.mkdir_p

    def fake(path: str, created: list[str]) -> list[str]:
        if path.startswith(str(denied)):
            try:
                raise PermissionError(errno.EACCES, "Permission denied")
            except PermissionError as exc:
                raise CgroupError(f"mkdir {path}: permission denied") from exc
        return real(path, created)

    monkeypatch.setattr(v1, "mkdir_p", fake)


def _v1_tree(tmp_path: Path) -> v1.V1Manager:
    dirs, ctrls = {}, {}
    for name in ("memory", "freezer", "devices", "pids"):
        (tmp_path / name).mkdir()
        dirs[name] = str(tmp_path / name / "rl-c")
        ctrls[name] = [name]
    return v1.V1Manager("rl-c", dirs, ctrls, rootless=True, may_skip=True)


def test_v1_rootless_skips_what_it_may_not_create(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _no_permission_below(monkeypatch, tmp_path / "memory")
    _no_permission_below(monkeypatch, tmp_path / "freezer")
    m = _v1_tree(tmp_path)
    m.create()
    assert sorted(m.skipped) == ["freezer", "memory"]
    assert "permission denied" in m.skipped["memory"]
    assert sorted(m.dirs) == ["devices", "pids"]
    assert (tmp_path / "pids" / "rl-c").is_dir()
    (tmp_path / "pids" / "rl-c" / "pids.max").write_text("max")
    m.set(LinuxResources(pids=LinuxPids(limit=10)))  # its cgroup exists: fine
    assert (tmp_path / "pids" / "rl-c" / "pids.max").read_text() == "10"
    with pytest.raises(CgroupError, match=r"cannot set memory limit: rootless container could "
                                           r"not create its cgroup .*permission denied"):
        m.set(LinuxResources(memory=LinuxMemory(limit=1 << 20)))
    with pytest.raises(CgroupError, match="cannot toggle freezer: cgroups not configured"):
        m.freeze()
    again = v1.from_state_v1(json.loads(json.dumps(m.to_state())))
    assert again.rootless and again.skipped == m.skipped and again.dirs == m.dirs
    (tmp_path / "pids" / "rl-c" / "pids.max").unlink()  # (a real cgroup's files go with it)
    m.destroy()
    assert not (tmp_path / "pids" / "rl-c").exists()


def test_v1_rootless_drops_device_rules_without_a_devices_cgroup(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_permission_below(monkeypatch, tmp_path / "devices")
    m = _v1_tree(tmp_path)
    m.create()
    assert "devices" in m.skipped
    # runc's default deny-all rule and the container's nodes: not an error rootless
    m.set(LinuxResources(devices=[]), devices=[LinuxDevice(path="/dev/fuse", type="c",
                                                             major=10, minor=229)])
    m.destroy()


def test_v1_rootful_still_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_permission_below(monkeypatch, tmp_path / "memory")
    m = _v1_tree(tmp_path)
    m.rootless = False
    with pytest.raises(CgroupError, match="permission denied"):
        m.create()
    m.destroy()


def test_v2_rootless_without_a_delegated_cgroup(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _no_permission_below(monkeypatch, root / "user")
    m = v2.V2Manager("rl-c", str(root / "user" / "rl-c"), str(root), rootless=True, may_skip=True)
    m.create()
    assert "permission denied" in m.skipped and m.self_join() == (None, [])
    m.apply(1)  # stays where it is: no error
    m.set(None, devices=[])
    m.set(LinuxResources(devices=[]), devices=[])
    with pytest.raises(CgroupError, match="cannot set memory limits: rootless container"):
        m.set(LinuxResources(memory=LinuxMemory(limit=1 << 20)))
    with pytest.raises(CgroupError, match="no cgroup of its own"):
        m.freeze()
    again = v2.from_state_v2(json.loads(json.dumps(m.to_state())))
    assert again.rootless and again.skipped == m.skipped


def test_v2_rootless_with_a_cgroups_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit cgroupsPath (a delegated subtree): the cgroup is required -- no
    permission is an error, not a skip -- and device rules are still left out (the
    eBPF filter needs privileges a delegation does not give; runc ignores them)."""
    from runcgo.kernel import cgroups
    from runcgo.kernel.cgroups import v2_resources

    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setattr(cgroups, "hierarchies", lambda: [])
    m = v2.V2Manager("/deleg/c", str(root / "deleg" / "c"), str(root), rootless=True)
    assert not m.may_skip
    seen: list[object] = []
    monkeypatch.setattr(v2_resources, "set_all",
                        lambda d, r, devices=None: seen.append((r.devices, devices)))
    m.set(LinuxResources(memory=LinuxMemory(limit=1 << 20), devices=[]), devices=[])
    assert seen == [(None, None)]
    (root / "deleg").write_text("")  # mkdir fails: an error, where may_skip would skip
    with pytest.raises(CgroupError, match="deleg"):
        m.create()
    assert m.skipped == ""
    again = v2.from_state_v2(json.loads(json.dumps(m.to_state())))
    assert again.rootless and not again.may_skip
