"""Small pure pieces: signal names, mount options, IDs, log lines, global flags, paths."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from runcgo import cli, log
from runcgo.errors import InvalidArgument
from runcgo.kernel import mountopts, paths, signals
from runcgo.kernel import syscalls as sc
from runcgo.state import check_id


@pytest.mark.parametrize(("text", "num"), [("KILL", 9), ("SIGKILL", 9), ("kill", 9), ("9", 9),
                                           ("TERM", 15), ("usr1", 10), ("SIGRTMIN+2", signal.SIGRTMIN + 2),
                                           ("0", 0)])
def test_signal_names(text: str, num: int) -> None:
    assert signals.parse(text) == num


@pytest.mark.parametrize("bad", ["NOPE", "65", "SIGRTMIN+99", ""])
def test_bad_signals(bad: str) -> None:
    with pytest.raises(ValueError):
        signals.parse(bad)


def test_mount_options() -> None:
    mo = mountopts.parse(["rbind", "ro", "nosuid", "rprivate", "mode=755", "size=1m", "rro"])
    assert mo.flags & sc.MS_BIND and mo.flags & sc.MS_REC and mo.flags & sc.MS_RDONLY
    assert mo.flags & sc.MS_NOSUID
    assert mo.propagation == [sc.MS_PRIVATE | sc.MS_REC]
    assert mo.data_str == "mode=755,size=1m"
    assert mo.attr_set == sc.MOUNT_ATTR["ro"]
    assert mountopts.parse(["ro", "rw"]).flags & sc.MS_RDONLY == 0


@pytest.mark.parametrize("good", ["a", "abc-1.2_3", "A" * 1024, "0"])
def test_good_ids(good: str) -> None:
    check_id(good)


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "a;b", "-a", ".a", "a b", "A" * 1025])
def test_bad_ids(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        check_id(bad)


def test_json_log_line(tmp_path: Path) -> None:
    f = tmp_path / "log.json"
    log.configure(str(f), "json")
    try:
        log.error("container x does not exist")
        log.debug("not shown")
    finally:
        log.configure(None)
    lines = f.read_text().splitlines()
    assert len(lines) == 1
    d = json.loads(lines[0])
    assert d["level"] == "error" and d["msg"] == "container x does not exist"
    assert d["time"].endswith("Z") and "T" in d["time"]


def test_global_flags() -> None:
    g, rest = cli._parse_globals(["--root", "/x", "--log=/l", "--log-format", "json", "--debug",
                                  "--systemd-cgroup", "state", "id"])
    assert (g.root, g.log, g.log_format, g.debug, g.systemd_cgroup) == ("/x", "/l", "json", True, True)
    assert rest == ["state", "id"]
    g, rest = cli._parse_globals(["-root", "/y", "list"])  # Go-style single dash
    assert g.root == "/y" and rest == ["list"]
    with pytest.raises(InvalidArgument):
        cli._parse_globals(["--bogus", "list"])
    with pytest.raises(InvalidArgument):
        cli._parse_globals(["--log-format", "xml", "list"])


def test_version_and_help(capsys) -> None:
    assert cli.main(["--version"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("runcgo version ") and out[2] == "spec: 1.3.0"
    assert cli.main(["nosuchcmd"]) == 1
    assert "No help topic for 'nosuchcmd'" in capsys.readouterr().err


def test_version_first_line_names_the_runc_release_it_follows(capsys) -> None:
    import re

    cli.main(["-v"])
    first = capsys.readouterr().out.splitlines()[0]
    assert re.search(r"runc version \d+\.\d+\.\d+", first), first


@pytest.mark.parametrize("cmd", ["checkpoint", "create", "delete", "events", "exec", "kill", "list",
                                 "pause", "ps", "restore", "resume", "run", "spec", "start",
                                 "state", "update", "features"])
def test_every_command_has_help(cmd: str, capsys) -> None:
    """runc's layout: NAME: then the command (and the runc command it stands in for)."""
    with pytest.raises(SystemExit) as exc:
        cli.main([cmd, "-h"])
    assert exc.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "NAME:" and f"runcgo {cmd} - " in lines[1] and f"runc {cmd}" in lines[1]
    assert "USAGE:" in lines


def test_main_help_and_help_topics(capsys) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("NAME:\n") and "runc - Open Container Initiative runtime" in out
    for name in ("checkpoint", "restore", "exec", "update"):
        assert f"\n   {name} " in out
    with pytest.raises(SystemExit):
        cli.main(["help", "kill"])
    assert "--all, -a" in capsys.readouterr().out
    assert cli.main(["foo", "-h"]) != 0
    assert "No help topic for 'foo'" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "secs"), [("5s", 5.0), ("100ms", 0.1), ("1m30s", 90.0), ("2", 2.0)])
def test_durations(text: str, secs: float) -> None:
    assert cli._duration(text) == pytest.approx(secs)


def test_resolve_inside_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    os.symlink("/a", root / "abs")
    os.symlink("a/b", root / "rel")
    os.symlink("../../..", root / "a" / "up")
    fd = os.open(root, os.O_PATH)
    try:
        assert paths.resolve(fd, "/abs/b/c") == "/a/b/c"
        assert paths.resolve(fd, "rel/x") == "/a/b/x"
        with pytest.raises(paths.EscapeError):
            paths.resolve(fd, "/a/up/etc")
        with pytest.raises(paths.EscapeError):
            paths.resolve(fd, "/../x")
    finally:
        os.close(fd)


def test_exec_cgroup_flag_forms() -> None:
    from runcgo.errors import ConfigError
    from runcgo.ops.exec import parse_sub_cgroups

    assert parse_sub_cgroups(["sub"]) == {"": "sub"}
    assert parse_sub_cgroups(["memory:a", "cpu,cpuacct:b", "memory:/"]) == {
        "memory": "/", "cpu": "b", "cpuacct": "b"}
    with pytest.raises(ConfigError, match="missing <controller>: prefix"):
        parse_sub_cgroups(["memory:a", "b"])
    with pytest.raises(ConfigError, match="invalid --cgroup argument"):
        parse_sub_cgroups(["a:b:c"])
