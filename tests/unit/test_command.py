"""runcgo.kernel.command: the subprocess stand-in the criu driver runs criu with.

Each behaviour is checked against what :mod:`subprocess` does for the same program:
exit statuses (signals negative), captured output, errors of a program that cannot be
run (the kernel's errno), fds closed except the ones passed, a timeout that kills and
reaps, stdin, and a start with fds 0-2 closed.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runcgo.kernel import command

SH = shutil.which("sh") or "/bin/sh"


def test_output_and_status_as_subprocess() -> None:
    script = "echo out; echo err >&2; printf 'no newline'; exit 3"
    got = command.run([SH, "-c", script])
    want = subprocess.run([SH, "-c", script], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    assert (got.returncode, got.stdout, got.stderr) == (want.returncode, want.stdout, want.stderr)
    assert got.returncode == 3


def test_killed_by_a_signal_is_negative() -> None:
    got = command.run([SH, "-c", "kill -TERM $$"])
    assert got.returncode == -15


def test_large_output_on_both_pipes_does_not_deadlock() -> None:
    # more than a pipe's buffer on each stream, interleaved
    script = "i=0; while [ $i -lt 2000 ]; do echo line$i; echo err$i >&2; i=$((i+1)); done"
    got = command.run([SH, "-c", script], timeout=60)
    assert got.stdout.count("\n") == 2000 and got.stderr.count("\n") == 2000
    assert got.stdout.splitlines()[-1] == "line1999"


def test_binary_garbage_is_replaced_not_raised() -> None:
    got = command.run([SH, "-c", r"printf '\377\376ok'"])
    assert got.stdout.endswith("ok") and "\ufffd" in got.stdout


@pytest.mark.parametrize(("name", "code"), [
    ("/nonexistent/criu", errno.ENOENT),
    ("plain-file", errno.EACCES),   # not executable
    ("/", errno.EACCES),            # a directory
    ("garbage", errno.ENOEXEC),     # executable, but no known format
])
def test_a_program_that_cannot_run_is_the_kernels_errno(name: str, code: int,
                                                         tmp_path: Path) -> None:
    path = name if name.startswith("/") else str(tmp_path / name)
    if not name.startswith("/"):
        Path(path).write_bytes(b"\x00\x01\x02 not a program")
        Path(path).chmod(0o755 if name == "garbage" else 0o644)
    with pytest.raises(OSError) as err:
        command.run([path, "x"])
    assert err.value.errno == code
    assert err.value.filename == path
    with pytest.raises(OSError) as want:
        subprocess.run([path, "x"])
    assert want.value.errno == code


def test_a_failing_before_exec_is_an_oserror_with_its_errno(tmp_path: Path) -> None:
    def fail() -> None:
        os.open(str(tmp_path / "missing" / "file"), os.O_RDONLY)

    with pytest.raises(OSError) as err:
        command.run([SH, "-c", "true"], before_exec=fail)
    assert err.value.errno == errno.ENOENT


def test_before_exec_runs_in_the_child_only(tmp_path: Path) -> None:
    marker = tmp_path / "pid"

    def note() -> None:
        marker.write_text(str(os.getpid()))

    got = command.run([SH, "-c", "echo $$"], before_exec=note)
    assert marker.read_text() == got.stdout.strip() != str(os.getpid())


def test_only_passed_fds_reach_the_program() -> None:
    keep_r, keep_w = os.pipe()
    other_r, other_w = os.pipe()
    for fd in (keep_w, other_w):
        os.set_inheritable(fd, True)  # subprocess closes these too unless passed
    try:
        got = command.run([SH, "-c", f"ls /proc/self/fd; echo hi > /proc/self/fd/{keep_w}"],
                          pass_fds=(keep_w,))
        os.close(keep_w)
        assert os.read(keep_r, 100) == b"hi\n"
        fds = {int(x) for x in got.stdout.split()}
        assert keep_w in fds and other_w not in fds and other_r not in fds
        assert fds - {keep_w} <= {0, 1, 2, 3}  # 3: ls's own directory fd
    finally:
        for fd in (keep_r, other_r, other_w):
            os.close(fd)


def test_stdin_is_dev_null_unless_shared() -> None:
    assert command.run([SH, "-c", "readlink /proc/self/fd/0"]).stdout.strip() == "/dev/null"
    r, w = os.pipe()
    saved = os.dup(0)
    try:
        os.write(w, b"from-us\n")
        os.close(w)
        os.dup2(r, 0)
        got = command.run([SH, "-c", "read x; echo $x"], stdin_null=False)
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(r)
    assert got.stdout == "from-us\n"


def _children() -> set[int]:
    """Our children, zombies included (the kernel lists them until they are reaped)."""
    out: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        out |= {int(x) for x in (task / "children").read_text().split()}
    return out


@pytest.mark.parametrize("script", [
    "exec sleep 30",
    "exec >/dev/null 2>&1; exec sleep 30",  # output closed, the child lives on
])
def test_timeout_kills_and_reaps(script: str) -> None:
    before = _children()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        command.run([SH, "-c", script], timeout=0.5)
    assert time.monotonic() - t0 < 10
    assert _children() - before == set()  # killed and reaped: no zombie, no sleeper


def test_works_when_started_with_std_fds_closed(tmp_path: Path) -> None:
    """A CLI started with 0-2 closed gets pipes at 0-2: they must not be mixed up."""
    code = (
        "import os, sys\n"
        "from runcgo.kernel import command\n"
        "for fd in (0, 1, 2): os.close(fd)\n"
        "r = command.run(['/bin/sh', '-c', 'echo out; echo err >&2; exit 4'])\n"
        f"open({str(tmp_path / 'r')!r}, 'w').write(repr((r.returncode, r.stdout, r.stderr)))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert (tmp_path / "r").read_text() == repr((4, "out\n", "err\n"))


def test_which_as_shutil(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "tool").write_text("#!/bin/sh\n")            # not executable
    (tmp_path / "a" / "dir-tool").mkdir()                            # a directory
    (tmp_path / "b" / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "b" / "tool").chmod(0o755)
    (tmp_path / "b" / "dir-tool").mkdir()
    path = f"{tmp_path / 'a'}:{tmp_path / 'b'}"
    assert command.which("tool", path) == str(tmp_path / "b" / "tool")
    assert command.which("tool", path) == shutil.which("tool", path=path)
    assert command.which("dir-tool", path) is None is shutil.which("dir-tool", path=path)
    assert command.which("missing", path) is None
    assert command.which(str(tmp_path / "b" / "tool")) == str(tmp_path / "b" / "tool")
    assert command.which(str(tmp_path / "a" / "tool")) is None
    assert command.which("sh") == shutil.which("sh")
    assert command.which("bad\0name", path) is None

