"""exec: a new process in a running container, as runc (and Docker through it) uses it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from harness import Runcgo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # inputs Docker really sent


@pytest.fixture
def running(runcgo: Runcgo):
    cid, bundle = runcgo.bundle(["sleep", "300"], **{"root.readonly": False})
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    yield cid, bundle
    runcgo("delete", "-f", cid)


def test_exec_output_and_status(runcgo: Runcgo, running) -> None:
    cid, _ = running
    r = runcgo("exec", cid, "sh", "-c", "echo out; echo err >&2; exit 7")
    assert r.returncode == 7
    assert r.stdout == "out\n" and r.stderr == "err\n"


def test_exec_stdin(runcgo: Runcgo, running) -> None:
    cid, _ = running
    r = runcgo("exec", cid, "sh", "-c", "read x; echo got:$x", input="hello\n")
    assert r.stdout == "got:hello\n"


def test_exec_env_cwd_user_groups(runcgo: Runcgo, running) -> None:
    cid, _ = running
    r = runcgo("exec", "-e", "XV=7", "--env", "PATH=/bin", "--cwd", "/tmp", "-u", "1000:1000",
               "-g", "5", "-g", "65534", cid, "sh", "-c", "echo $XV:$(pwd):$(id -u):$(id -g):$(id -G)")
    assert r.returncode == 0, r.stderr
    xv, cwd, uid, gid, groups = r.stdout.strip().split(":")
    assert (xv, cwd, uid, gid) == ("7", "/tmp", "1000", "1000")
    assert sorted(groups.split()) == ["1000", "5", "65534"]


def test_exec_process_file_from_docker(runcgo: Runcgo, running, tmp_path: Path) -> None:
    cid, _ = running
    sample = FIXTURES / "exec.user1000.process.json"
    proc = tmp_path / "process.json"
    shutil.copy(sample, proc)
    r = runcgo("exec", "--process", str(proc), cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1000:1000:7:/tmp"


def test_exec_joins_namespaces_and_cgroup(runcgo: Runcgo, running, tmp_path: Path) -> None:
    cid, _ = running
    init = runcgo.state(cid)["pid"]
    pidfile = tmp_path / "exec.pid"
    runcgo("exec", "-d", "--pid-file", str(pidfile), cid, "sleep", "30", check=True)
    text = pidfile.read_text()
    assert text.isdigit()
    pid = int(text)
    try:
        # -d: the process outlives the runcgo that started it
        assert os.path.exists(f"/proc/{pid}")
        for ns in ("pid", "mnt", "net", "ipc", "uts", "cgroup"):
            assert os.readlink(f"/proc/{pid}/ns/{ns}") == os.readlink(f"/proc/{init}/ns/{ns}"), ns
        with open(f"/proc/{pid}/cgroup") as a, open(f"/proc/{init}/cgroup") as b:
            assert a.read() == b.read()
        with open(f"/proc/{pid}/status") as f:
            nspid = next(ln for ln in f if ln.startswith("NSpid:")).split()
        assert nspid[1] == str(pid) and nspid[2] != "1"  # inside the container's pid ns
        assert os.readlink(f"/proc/{pid}/root") == "/"  # its root is the container's
        ps = runcgo("exec", cid, "ps", "-o", "pid,args").stdout
        assert "sleep 30" in ps
    finally:
        os.kill(pid, signal.SIGKILL)


def test_exec_security_context(runcgo: Runcgo, running) -> None:
    cid, _ = running
    r = runcgo("exec", cid, "grep", "-E", "^(CapEff|NoNewPrivs)", "/proc/self/status")
    fields = dict(ln.split(":\t") for ln in r.stdout.splitlines())
    want = hex((1 << 29) | (1 << 5) | (1 << 10))[2:].rjust(16, "0")
    assert fields == {"CapEff": want, "NoNewPrivs": "1"}
    r = runcgo("exec", "--cap", "CAP_CHOWN", cid, "grep", "^CapEff", "/proc/self/status")
    assert r.stdout.split()[1] == hex(int(want, 16) | 1)[2:].rjust(16, "0")


def test_exec_closes_unasked_fds(runcgo: Runcgo, running) -> None:
    cid, _ = running
    r = runcgo("exec", cid, "ls", "/proc/self/fd")
    assert sorted(r.stdout.split()) == ["0", "1", "2", "3"]  # 3: ls's own directory fd


def test_exec_into_stopped_and_missing(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["true"])
    runcgo("run", "--keep", "--bundle", str(bundle), cid, check=True)
    r = runcgo("exec", cid, "true")
    assert r.returncode == 255 and "container not running" in r.stderr  # runc: exec failures are 255
    runcgo("delete", cid, check=True)
    r = runcgo("exec", "ghost", "true")
    assert r.returncode == 255 and "does not exist" in r.stderr


def test_exec_missing_executable(runcgo: Runcgo, running) -> None:
    cid, _ = running
    r = runcgo("exec", cid, "nosuchcmd")
    assert r.returncode == 255
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in r.stderr


def test_exec_paused_is_refused_unless_ignored(runcgo: Runcgo, running) -> None:
    cid, _ = running
    runcgo("pause", cid, check=True)
    try:
        assert runcgo.state(cid)["status"] == "paused"
        t0 = time.monotonic()
        r = runcgo("exec", cid, "true")
        assert r.returncode == 255 and "paused" in r.stderr  # runc's exit status
        assert time.monotonic() - t0 < 5
    finally:
        runcgo("resume", cid, check=True)
    assert runcgo("exec", cid, "true").returncode == 0


def test_exec_signal_forwarding(runcgo: Runcgo, running) -> None:
    import subprocess

    from harness import runcgo_cmd

    cid, _ = running
    with subprocess.Popen([*runcgo_cmd(), "--root", str(runcgo.root), "exec", cid, "sh", "-c",
                           "trap 'echo term; exit 9' TERM; echo ready; while :; do sleep 0.05; done"],
                          stdout=subprocess.PIPE, text=True) as p:
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=10)
    assert out == "term\n" and p.returncode == 9


def test_exec_process_json_bad_type(runcgo: Runcgo, running, tmp_path: Path) -> None:
    cid, _ = running
    proc = tmp_path / "p.json"
    proc.write_text(json.dumps({"args": ["true"], "cwd": "/", "user": {"uid": "x"}}))
    r = runcgo("exec", "--process", str(proc), cid)
    assert r.returncode == 255 and "$.user.uid" in r.stderr


def test_exec_failures_exit_255_usage_errors_1(runcgo: Runcgo, running, tmp_path: Path) -> None:
    """runc's split: the command's own status below 255, 255 when runc could not exec it,
    1 for a command line it could not parse."""
    cid, _ = running
    assert runcgo("exec", cid, "sh", "-c", "exit 42").returncode == 42
    r = runcgo("exec", "--pid-file", str(tmp_path / "missing" / "pid"), cid, "true")
    assert r.returncode == 255 and "exec failed" in r.stderr and len(r.stderr.splitlines()) == 1
    assert runcgo("exec", "--bogus", cid, "true").returncode == 1
