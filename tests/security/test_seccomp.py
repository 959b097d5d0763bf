"""Seccomp: validation, actions, argument filters, Docker's profile, the cache, the stub."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runcgo import spec
from runcgo._struct import decode as _sdecode
from runcgo._struct import encode as _sencode
from runcgo.errors import ConfigError
from runcgo.kernel import seccomp
from runcgo.kernel.seccomp_bpf import flag_supported

from .conftest import run_child, status_fields

pytestmark = pytest.mark.root

SAMPLE = Path("/work/shared/samples/config.plain.json")
ROOT = Path(__file__).resolve().parents[2]


def profile(**kw: Any) -> spec.LinuxSeccomp:
    doc = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], **kw}
    return _sdecode(_sencode(doc), spec.LinuxSeccomp)


def docker_profile() -> spec.LinuxSeccomp:
    if not SAMPLE.exists():
        pytest.skip("no Docker sample config")
    cfg = _sdecode(SAMPLE.read_bytes(), spec.Spec)
    assert cfg.linux is not None and cfg.linux.seccomp is not None
    return cfg.linux.seccomp


def libc_syscall(nr: int, *args: int) -> tuple[int, int]:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    return r, ctypes.get_errno() if r < 0 else 0


# --- validation ----------------------------------------------------------------

@pytest.mark.parametrize(("doc", "path"), [
    ({"defaultAction": "SCMP_ACT_NOPE"}, "$.linux.seccomp.defaultAction"),
    ({"defaultAction": "SCMP_ACT_NOTIFY"}, "$.linux.seccomp.defaultAction"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}, "$.linux.seccomp.defaultErrnoRet"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000},
     "$.linux.seccomp.defaultErrnoRet"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]},
     "$.linux.seccomp.architectures[0]"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]},
     "$.linux.seccomp.flags[0]"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]},
     "$.linux.seccomp.syscalls[0].names"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]},
     "$.linux.seccomp.syscalls[0].errnoRet"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "$.linux.seccomp.syscalls[0].args[0].index"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}]}]},
     "$.linux.seccomp.syscalls[0].args[0].op"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]},
     "$.linux.seccomp.syscalls[0].args[0].value"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]},
     "$.linux.seccomp.listenerPath"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
      "syscalls": [{"names": ["sendmsg"], "action": "SCMP_ACT_NOTIFY"}]},
     "$.linux.seccomp.syscalls[0].names"),
])
def test_invalid_profiles(doc: dict[str, Any], path: str, seccomp_cache: Path) -> None:
    prof = _sdecode(_sencode(doc), spec.LinuxSeccomp)
    with pytest.raises(ConfigError) as info:
        seccomp.prepare(prof)
    assert info.value.path == path
    assert not seccomp_cache.exists() or not any(seccomp_cache.iterdir())


def test_none_is_none() -> None:
    assert seccomp.prepare(None) is None


def test_unknown_syscall_names_are_skipped(seccomp_cache: Path) -> None:
    prof = profile(syscalls=[{"names": ["no_such_syscall", "mkdir", "mkdirat"],
                              "action": "SCMP_ACT_ERRNO"}])
    prepared = seccomp.prepare(prof)
    assert prepared is not None
    r = run_child(lambda: seccomp.load(prepared), ["mkdir", str(seccomp_cache / "x")])
    assert r.exit_code != 0 and "Operation not permitted" in r.stderr


# --- actions ----------------------------------------------------------------------

def test_errno_status_and_allowed(seccomp_cache: Path) -> None:
    prof = profile(syscalls=[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                              "errnoRet": errno.EXDEV}])
    prepared = seccomp.prepare(prof)
    assert prepared is not None
    target = seccomp_cache.parent / "blocked"
    r = run_child(lambda: seccomp.load(prepared),
                  ["sh", "-c", f"cat /proc/self/status; mkdir {target}"])
    fields = status_fields(r.stdout)
    assert fields["Seccomp"] == "2" and fields["Seccomp_filters"] == "1"
    assert "Invalid cross-device link" in r.stderr and r.exit_code == 1
    assert not target.exists()


def test_default_errno_ret(seccomp_cache: Path) -> None:
    """defaultErrnoRet with a small allow-list: what is not listed fails with it."""
    allowed = ["execve", "brk", "arch_prctl", "set_tid_address", "set_robust_list", "rseq",
               "prlimit64", "mprotect", "mmap", "munmap", "readlinkat", "readlink", "uname",
               "getuid", "geteuid", "exit_group", "write", "writev", "newfstatat", "fstat",
               "getrandom", "ioctl", "rt_sigaction", "rt_sigprocmask", "getpid", "stat"]
    prof = profile(defaultAction="SCMP_ACT_ERRNO", defaultErrnoRet=errno.EROFS,
                   syscalls=[{"names": allowed, "action": "SCMP_ACT_ALLOW"}])
    prepared = seccomp.prepare(prof)
    assert prepared is not None
    r = run_child(lambda: seccomp.load(prepared), ["mkdir", "/tmp/runcgo-never-created"])
    assert "Read-only file system" in r.stderr, r.stderr
    assert not os.path.exists("/tmp/runcgo-never-created")


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                    "SCMP_ACT_KILL", "SCMP_ACT_TRAP"])
def test_fatal_actions(action: str, seccomp_cache: Path) -> None:
    prepared = seccomp.prepare(profile(syscalls=[{"names": ["getppid"], "action": action}]))
    assert prepared is not None

    def setup() -> None:
        seccomp.load(prepared)
        os.getppid()

    r = run_child(setup, None)
    assert os.WIFSIGNALED(r.status)
    assert os.WTERMSIG(r.status) == signal.SIGSYS


@pytest.mark.parametrize("action", ["SCMP_ACT_LOG", "SCMP_ACT_TRACE"])
def test_nonfatal_actions(action: str, seccomp_cache: Path) -> None:
    prepared = seccomp.prepare(profile(syscalls=[{"names": ["getppid"], "action": action}]))
    assert prepared is not None

    def setup() -> None:
        seccomp.load(prepared)
        result = libc_syscall(110)  # getppid
        # LOG allows; TRACE without a tracer fails the call with ENOSYS
        expected_ok = action == "SCMP_ACT_LOG"
        assert (result[0] > 0) == expected_ok, result

    assert run_child(setup, None).exit_code == 0


def test_rules_equal_to_default_are_skipped(seccomp_cache: Path) -> None:
    prof = profile(syscalls=[{"names": ["getppid"], "action": "SCMP_ACT_ALLOW"},
                             {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}])
    assert seccomp.prepare(prof) is not None


# --- argument filters ------------------------------------------------------------------

def kill_probe(prepared: seccomp.Prepared, pids: list[int]) -> set[int]:
    """Run busybox `kill -0 PID` for each pid; return the pids the filter refused (EXDEV)."""
    script = "; ".join(f"kill -0 {p}" for p in pids)
    r = run_child(lambda: seccomp.load(prepared), ["sh", "-c", script])
    return {p for p in pids if f"pid {p}: Invalid cross-device link" in r.stderr}


def kill_rule(*args: dict[str, Any]) -> dict[str, Any]:
    return {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV,
            "args": list(args)}


def test_masked_eq(seccomp_cache: Path) -> None:
    """kill(pid, 0) with (pid & 0xF0) == 0x60 is refused."""
    rule = kill_rule({"index": 0, "value": 0xF0, "valueTwo": 0x60, "op": "SCMP_CMP_MASKED_EQ"})
    prepared = seccomp.prepare(profile(syscalls=[rule]))
    assert prepared is not None
    assert kill_probe(prepared, [0x64, 0xC8, 0x12C, 0x6F, 0x160]) == {0x64, 0x6F, 0x160}


def test_two_conditions_on_one_arg_are_alternatives(seccomp_cache: Path) -> None:
    """runc semantics: libseccomp can't AND one argument twice, so each is its own rule."""
    rule = kill_rule({"index": 0, "value": 1001, "op": "SCMP_CMP_EQ"},
                     {"index": 0, "value": 1003, "op": "SCMP_CMP_EQ"})
    prepared = seccomp.prepare(profile(syscalls=[rule]))
    assert prepared is not None
    assert kill_probe(prepared, [1001, 1002, 1003]) == {1001, 1003}


def test_conditions_on_two_args_are_anded(seccomp_cache: Path) -> None:
    # pids above any possible pid_max (2^22), so "No such process" can't depend on the host
    rule = kill_rule({"index": 0, "value": 5001001, "op": "SCMP_CMP_GE"},
                     {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"})
    prepared = seccomp.prepare(profile(syscalls=[rule]))
    assert prepared is not None
    script = "kill -0 5001000; kill -0 5001002; kill -s HUP 5001002"
    r = run_child(lambda: seccomp.load(prepared), ["sh", "-c", script])
    assert "pid 5001002: Invalid cross-device link" in r.stderr
    assert "pid 5001000: No such process" in r.stderr
    assert "pid 5001002: No such process" in r.stderr  # signal 1: second condition false


@pytest.mark.parametrize(("op", "blocked"), [
    ("SCMP_CMP_NE", {1001, 1003}), ("SCMP_CMP_LT", {1001}), ("SCMP_CMP_LE", {1001, 1002}),
    ("SCMP_CMP_EQ", {1002}), ("SCMP_CMP_GE", {1002, 1003}), ("SCMP_CMP_GT", {1003}),
])
def test_compare_ops(op: str, blocked: set[int], seccomp_cache: Path) -> None:
    prepared = seccomp.prepare(profile(syscalls=[kill_rule({"index": 0, "value": 1002,
                                                            "op": op})]))
    assert prepared is not None
    assert kill_probe(prepared, [1001, 1002, 1003]) == blocked


# --- Docker's default profile, the stub, flags ----------------------------------------------

def test_docker_default_profile(seccomp_cache: Path) -> None:
    prepared = seccomp.prepare(docker_profile())
    assert prepared is not None
    script = ("grep Seccomp /proc/self/status; ls / >/dev/null && echo ls-ok; "
              "unshare -U true; echo unshare=$?; echo done")
    r = run_child(lambda: seccomp.load(prepared), ["sh", "-c", script])
    assert "ls-ok" in r.stdout and "done" in r.stdout, r.stderr
    assert "unshare=1" in r.stdout and "Operation not permitted" in r.stderr


def test_enosys_for_syscalls_newer_than_profile(seccomp_cache: Path) -> None:
    prepared = seccomp.prepare(docker_profile())
    assert prepared is not None

    def setup() -> None:
        seccomp.load(prepared)
        assert libc_syscall(1000)[1] == errno.ENOSYS      # beyond the profile: ENOSYS
        assert libc_syscall(163, 0)[1] == errno.EPERM     # acct: known, not allowed: EPERM
        assert libc_syscall(39)[0] > 0                    # getpid: allowed

    r = run_child(setup, None)
    assert r.exit_code == 0, r.stderr


def test_flags(seccomp_cache: Path) -> None:
    prof = profile(flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                          "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                   syscalls=[{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}])
    prepared = seccomp.prepare(prof)
    assert prepared is not None
    assert prepared.flags & 1 and prepared.flags & 2 and prepared.flags & 4
    assert not prepared.flags & 32  # WAIT_KILLABLE_RECV only with a listener
    assert run_child(lambda: seccomp.load(prepared), ["true"]).exit_code == 0


# --- the cache ----------------------------------------------------------------------------

def test_cache_hit_and_same_program(seccomp_cache: Path) -> None:
    first = seccomp.prepare(docker_profile())
    second = seccomp.prepare(docker_profile())
    assert first is not None and second is not None
    assert not first.cache_hit and second.cache_hit
    assert first.bpf == second.bpf
    entries = list(seccomp_cache.iterdir())
    assert len(entries) == 1 and entries[0].stat().st_mode & 0o777 == 0o600
    assert seccomp_cache.stat().st_mode & 0o777 == 0o700


def test_corrupt_or_untrusted_cache_is_ignored(seccomp_cache: Path) -> None:
    first = seccomp.prepare(docker_profile())
    assert first is not None
    entry = next(seccomp_cache.iterdir())
    entry.write_bytes(b"\x06\x00\x00\x00\x00\x00\xff\x7f" * 2 + b"0" * 32)  # "allow", bad sum
    again = seccomp.prepare(docker_profile())
    assert again is not None and not again.cache_hit and again.bpf == first.bpf
    seccomp_cache.chmod(0o777)  # world-writable: never trusted
    try:
        third = seccomp.prepare(docker_profile())
        assert third is not None and not third.cache_hit
    finally:
        seccomp_cache.chmod(0o700)


def test_warm_path_does_not_import_pyseccomp(seccomp_cache: Path) -> None:
    code = ("import sys; from runcgo import spec; from runcgo.kernel import seccomp;"
            "from runcgo._struct import decode;"
            f"c = decode(open({str(SAMPLE)!r}, 'rb').read(), spec.Spec);"
            "p = seccomp.prepare(c.linux.seccomp);"
            "print(p.cache_hit, 'pyseccomp' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    outs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for _ in range(2)]
    assert outs == [["False", "True"], ["True", "False"]]


# --- SCMP_ACT_NOTIFY ---------------------------------------------------------------------

def test_notify_on_write_is_refused_in_runcs_words(seccomp_cache: Path) -> None:
    prof = profile(listenerPath="/x", syscalls=[{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}])
    with pytest.raises(ConfigError) as info:
        seccomp.prepare(prof)
    assert info.value.path == "$.linux.seccomp.syscalls[0].names"
    assert "SCMP_ACT_NOTIFY cannot be used for the write syscall" in str(info.value)


def test_no_agent_listening_is_named(seccomp_cache: Path, tmp_path: Path) -> None:
    prof = profile(listenerPath=str(tmp_path / "nobody.sock"),
                   syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}])
    with pytest.raises(OSError) as info:
        seccomp.prepare(prof)
    assert info.value.errno == errno.ENOENT
    assert "failed to connect with seccomp agent" in str(info.value)  # runc's words
    assert str(tmp_path / "nobody.sock") in str(info.value)


class _NotifData(ctypes.Structure):
    _fields_ = [("nr", ctypes.c_int), ("arch", ctypes.c_uint32), ("ip", ctypes.c_uint64),
                ("args", ctypes.c_uint64 * 6)]


class _Notif(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("pid", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("data", _NotifData)]


class _NotifResp(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("val", ctypes.c_int64), ("error", ctypes.c_int32),
                ("flags", ctypes.c_uint32)]


SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101


def test_notify_reaches_agent(seccomp_cache: Path, tmp_path: Path) -> None:
    import socket

    agent_path = str(tmp_path / "agent.sock")
    agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    agent.bind(agent_path)
    agent.listen(1)
    prof = profile(listenerPath=agent_path, listenerMetadata="hello-agent",
                   flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                   syscalls=[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}])
    prepared = seccomp.prepare(prof)
    assert prepared is not None and prepared.notify and prepared.fds()
    state = _sencode({"ociVersion": "1.3.0", "id": "c1", "status": "creating",
                                 "pid": 4242, "bundle": "/b"})
    target = tmp_path / "dir"
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.dup2(out_w, 2)
            seccomp.load(prepared, state)
            os.execv("/bin/busybox", ["busybox", "mkdir", str(target)])
        finally:
            os._exit(120)
    os.close(out_w)
    prepared.close()
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        conn, _ = agent.accept()
        msg, fds, _, _ = socket.recv_fds(conn, 65536, 4)
        conn.close()
        assert len(fds) == 1
        doc = json.loads(msg)
        assert doc["fds"] == ["seccompFd"] and doc["metadata"] == "hello-agent"
        assert doc["pid"] == 4242 and doc["state"]["id"] == "c1"
        req = _Notif()
        assert libc.ioctl(fds[0], ctypes.c_ulong(SECCOMP_IOCTL_NOTIF_RECV), ctypes.byref(req)) == 0
        assert req.data.nr in (83, 258)  # mkdir / mkdirat
        assert req.pid == pid
        resp = _NotifResp(req.id, 0, -errno.EXDEV, 0)
        assert libc.ioctl(fds[0], ctypes.c_ulong(SECCOMP_IOCTL_NOTIF_SEND),
                          ctypes.byref(resp)) == 0
        os.close(fds[0])
    finally:
        _, status = os.waitpid(pid, 0)
        err = os.read(out_r, 65536).decode()
        os.close(out_r)
        agent.close()
    assert os.waitstatus_to_exitcode(status) == 1
    assert "Invalid cross-device link" in err
    assert not target.exists()


def test_kernel_flag_probe() -> None:
    assert flag_supported(1)          # TSYNC exists since 3.17
    assert not flag_supported(1 << 20)


def test_security_modules_are_cheap_to_import() -> None:
    code = ("import sys; import runcgo.kernel.seccomp, runcgo.kernel.capabilities,"
            " runcgo.kernel.procattrs;"
            "print(sorted(m for m in ('pyseccomp', 'prctl', 'logging', 'hashlib', 'socket')"
            " if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=False, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stderr
