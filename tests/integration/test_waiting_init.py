"""A created container's init waits in runcgo's tiny waiter (runcgo/kernel/waiter.py), not in
a forked Python: small, non-dumpable, already the configured user; after `start` the user's
program runs with its args, env, uid and capabilities; a noNewPrivileges seccomp filter is
loaded by the waiter right before the exec; a filter loaded before the wait is asked whether
it lets the waiter's syscalls through, and if not the init keeps waiting in Python."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from runcgo.kernel import waiter

from harness import Runcgo

pytestmark = pytest.mark.skipif(not waiter.supported(), reason="the waiter is x86-64 code")


def _pss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))


def _wait_file(path: Path, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().endswith("END\n"):
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} not written")


def test_created_init_is_the_small_waiter(runcgo: Runcgo) -> None:
    script = ('{ echo "$0 $1"; echo "$GREETING"; id -u; grep CapEff /proc/self/status;'
              ' readlink /proc/self/exe; ls /proc/self/fd | tr "\\n" " "; echo; echo END; } > /tmp/out')
    cid, bundle = runcgo.bundle(["sh", "-c", script, "first", "second"],
                                **{"process.user.uid": 1000, "process.user.gid": 1000,
                                   "process.env": ["PATH=/bin", "GREETING=hi there"],
                                   "root.readonly": False})
    r = runcgo("create", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    pid = runcgo.state(cid)["pid"]
    assert os.readlink(f"/proc/{pid}/exe") == "/memfd:runcgo-wait (deleted)"
    assert _pss_kib(pid) < 512, _pss_kib(pid)  # a waiting Python init is ~6000 KiB
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":\t", 1) for line in f.read().splitlines())
    assert status["Uid"].split()[0] == "1000" and status["State"].startswith("S")
    assert status["NoNewPrivs"] == "1"
    # Non-dumpable, as the Python init was: /proc/PID/ of a uid-1000 process stays root's.
    assert os.stat(f"/proc/{pid}/fd").st_uid == 0
    out_file = bundle / "rootfs" / "tmp" / "out"
    assert not out_file.exists()
    r = runcgo("start", cid)
    assert r.returncode == 0, r.stderr
    lines = _wait_file(out_file).splitlines()
    assert lines[0] == "first second"
    assert lines[1] == "hi there"
    assert lines[2] == "1000"
    assert lines[3].split() == ["CapEff:", "0000000000000000"]
    assert lines[4] == "/bin/busybox"
    assert lines[5].split() == ["0", "1", "2", "3"]  # no FIFO, no memfd (3: ls's own dir)
    r = runcgo("delete", "--force", cid)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("sig", ["TERM", "INT"])
def test_kill_of_a_created_container_stops_it(runcgo: Runcgo, sig: str) -> None:
    # As runc's init does: a signal whose default is to end a process ends the wait.
    cid, bundle = runcgo.bundle(["true"])
    r = runcgo("create", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    pid = runcgo.state(cid)["pid"]
    assert os.readlink(f"/proc/{pid}/exe") == "/memfd:runcgo-wait (deleted)"
    r = runcgo("kill", cid, sig)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 5
    while runcgo.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert runcgo.state(cid)["status"] == "stopped"
    r = runcgo("delete", cid)
    assert r.returncode == 0, r.stderr


SECCOMP = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}


def test_the_waiter_loads_a_nnp_seccomp_filter_after_start(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(
        ["sh", "-c", "grep Seccomp: /proc/self/status > /tmp/out; mkdir /tmp/d 2>/dev/null;"
                     " echo $? END >> /tmp/out"],
        **{"linux.seccomp": SECCOMP, "process.noNewPrivileges": True, "root.readonly": False})
    r = runcgo("create", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    pid = runcgo.state(cid)["pid"]
    assert os.readlink(f"/proc/{pid}/exe") == "/memfd:runcgo-wait (deleted)"
    with open(f"/proc/{pid}/status") as f:
        assert "\nSeccomp:\t0\n" in f.read()  # as runc: loaded only right before the exec
    r = runcgo("start", cid)
    assert r.returncode == 0, r.stderr
    assert _wait_file(bundle / "rootfs" / "tmp" / "out").split() == ["Seccomp:", "2", "1", "END"]
    r = runcgo("delete", "--force", cid)
    assert r.returncode == 0, r.stderr


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize("profile", ["deny-mkdir", "docker-default"])
def test_a_filter_loaded_before_the_wait_that_lets_the_waiter_through(
        runcgo: Runcgo, profile: str) -> None:
    # Without noNewPrivileges the filter goes in before the capability drop, so before the
    # wait: the waiter is used because the filter lets its syscalls through (Docker's
    # default profile, as Docker sends it, does).
    if profile == "docker-default":
        seccomp = json.loads((FIXTURES / "config.plain.json").read_text())["linux"]["seccomp"]
    else:
        seccomp = SECCOMP
    cid, bundle = runcgo.bundle(["sh", "-c", "mkdir /tmp/d 2>/dev/null; echo $? END > /tmp/out"],
                                **{"linux.seccomp": seccomp, "process.noNewPrivileges": False,
                                   "root.readonly": False})
    r = runcgo("create", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    pid = runcgo.state(cid)["pid"]
    assert os.readlink(f"/proc/{pid}/exe") == "/memfd:runcgo-wait (deleted)"
    with open(f"/proc/{pid}/status") as f:
        assert "\nSeccomp:\t2\n" in f.read()
    r = runcgo("start", cid)
    assert r.returncode == 0, r.stderr
    # mkdir: denied by deny-mkdir; allowed by Docker's profile (root with CAP_DAC_OVERRIDE)
    expected = "1 END\n" if profile == "deny-mkdir" else "0 END\n"
    assert _wait_file(bundle / "rootfs" / "tmp" / "out") == expected
    r = runcgo("delete", "--force", cid)
    assert r.returncode == 0, r.stderr


def test_a_filter_loaded_before_the_wait_that_stops_the_waiter_keeps_the_python_init(
        runcgo: Runcgo) -> None:
    # execveat (the waiter's exec from its memfd) is refused: the init waits in Python,
    # and the container runs as before.
    seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["execveat", "mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    cid, bundle = runcgo.bundle(["sh", "-c", "mkdir /tmp/d 2>/dev/null; echo $? END > /tmp/out"],
                                **{"linux.seccomp": seccomp, "process.noNewPrivileges": False,
                                   "root.readonly": False})
    r = runcgo("create", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    pid = runcgo.state(cid)["pid"]
    assert "python" in os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    r = runcgo("start", cid)
    assert r.returncode == 0, r.stderr
    assert _wait_file(bundle / "rootfs" / "tmp" / "out") == "1 END\n"  # the filter is on
    r = runcgo("delete", "--force", cid)
    assert r.returncode == 0, r.stderr
