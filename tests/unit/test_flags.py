"""The runc-style flag parser that replaces argparse on the hot path."""

from __future__ import annotations

import pytest

from runcgo.errors import InvalidArgument
from runcgo.flags import REMAINDER, Parser


def exec_parser() -> Parser:
    p = Parser("runcgo exec")
    p.add_argument("-e", "--env", action="append")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--pid-file")
    p.add_argument("--preserve-fds", type=int, default=0)
    p.add_argument("container_id")
    p.add_argument("command", nargs=REMAINDER)
    return p


def test_runc_style_flags() -> None:
    a = exec_parser().parse_args(["--env", "A=1", "-e=B=2", "-detach", "--pid-file=/p", "--preserve-fds", "2",
                                  "ID", "sh", "-c", "echo -e x --env"])
    assert a.env == ["A=1", "B=2"] and a.detach is True and a.pid_file == "/p" and a.preserve_fds == 2
    assert a.container_id == "ID" and a.command == ["sh", "-c", "echo -e x --env"]


def test_flags_anywhere_for_simple_commands_and_errors() -> None:
    p = Parser("runcgo delete")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("ids", nargs="+")
    a = p.parse_args(["a", "--force", "b"])
    assert a.force and a.ids == ["a", "b"]
    assert p.parse_args(["--force=false", "x"]).force is False
    with pytest.raises(InvalidArgument, match="not defined: --nope"):
        p.parse_args(["--nope", "x"])
    with pytest.raises(InvalidArgument, match="required"):
        p.parse_args([])


def test_kill_negative_signal_is_positional_and_optional() -> None:
    p = Parser("runcgo kill")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("container_id")
    p.add_argument("signal", nargs="?", default="SIGTERM")
    assert p.parse_args(["x"]).signal == "SIGTERM"
    assert p.parse_args(["--all", "x", "9"]).signal == "9"
    with pytest.raises(InvalidArgument, match="unexpected"):
        p.parse_args(["x", "9", "extra"])


def test_bad_values() -> None:
    p = exec_parser()
    with pytest.raises(InvalidArgument, match="--preserve-fds"):
        p.parse_args(["--preserve-fds", "x", "id", "true"])
    with pytest.raises(InvalidArgument, match="needs an argument"):
        p.parse_args(["--pid-file"])
    q = Parser("runcgo list")
    q.add_argument("-f", "--format", choices=("table", "json"), default="table")
    with pytest.raises(InvalidArgument, match=r"table\|json"):
        q.parse_args(["--format", "xml"])
