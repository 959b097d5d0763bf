"""The lifecycle as a user of runc drives it: create, start, state, kill, delete, run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import Runcgo, runcgo_cmd


def proc_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid: int, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while proc_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not proc_alive(pid)


def wait_status(rc: Runcgo, cid: str, want: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    st = rc.state(cid)
    while st["status"] != want and time.monotonic() < deadline:
        time.sleep(0.02)
        st = rc.state(cid)
    assert st["status"] == want, st
    return st


def test_create_start_stop_delete(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sh", "-c", "read x < /dev/null; sleep 2"])
    pidfile = bundle / "init.pid"
    r = runcgo("create", "--bundle", str(bundle), "--pid-file", str(pidfile), cid)
    assert r.returncode == 0, r.stderr
    st = runcgo.state(cid)
    assert st["status"] == "created"
    assert st["id"] == cid and st["bundle"] == str(bundle)
    assert st["ociVersion"] == "1.3.0" and st["created"].endswith("Z")
    # --pid-file: digits only, no newline, the init's host pid
    text = pidfile.read_text()
    assert text.isdigit() and int(text) == st["pid"]
    assert os.path.exists(f"/proc/{st['pid']}")
    # The init sits blocked, not yet the user's program.
    assert os.path.exists(runcgo.root / cid / "exec.fifo")
    assert oct(os.stat(runcgo.root / cid).st_mode & 0o777) == "0o700"
    assert oct(os.stat(runcgo.root / cid / "state.json").st_mode & 0o777) == "0o600"
    r = runcgo("start", cid)
    assert r.returncode == 0, r.stderr
    assert runcgo.state(cid)["status"] == "running"
    assert not os.path.exists(runcgo.root / cid / "exec.fifo")
    with open(f"/proc/{st['pid']}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] in (b"sh", b"sleep")  # the user's program now
    wait_status(runcgo, cid, "stopped", timeout=15)
    assert runcgo.state(cid)["pid"] == 0
    r = runcgo("delete", cid)
    assert r.returncode == 0, r.stderr
    assert not (runcgo.root / cid).exists()
    r = runcgo("state", cid)
    assert r.returncode != 0 and "does not exist" in r.stderr


def test_start_of_running_is_refused(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sleep", "30"])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    assert runcgo.state(cid)["status"] == "running"
    r = runcgo("start", cid)
    assert r.returncode == 1
    assert "running" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    runcgo("delete", "--force", cid, check=True)


def test_run_propagates_exit_code_and_stdio(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sh", "-c", "read line; echo out:$line; echo err >&2; exit 42"])
    r = runcgo("run", "--bundle", str(bundle), cid, input="ping\n")
    assert r.returncode == 42
    assert r.stdout == "out:ping\n" and r.stderr == "err\n"
    # run deletes the container afterwards
    assert runcgo("state", cid).returncode != 0


def test_run_exit_code_of_signal_death(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sh", "-c", "echo up; sleep 30"])
    proc = subprocess.Popen([*runcgo_cmd(), "--root", str(runcgo.root), "run", "--bundle",
                             str(bundle), cid], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "up\n"
        runcgo("kill", cid, "KILL", check=True)
        assert proc.wait(timeout=10) == 128 + signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_run_keep_leaves_stopped_container(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["true"])
    assert runcgo("run", "--keep", "--bundle", str(bundle), cid).returncode == 0
    assert runcgo.state(cid)["status"] == "stopped"
    runcgo("delete", cid, check=True)


def test_run_forwards_signals(runcgo: Runcgo, tmp_path) -> None:
    cid, bundle = runcgo.bundle(
        ["sh", "-c", "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.05; done"])
    proc = subprocess.Popen([*runcgo_cmd(), "--root", str(runcgo.root), "run", "--bundle",
                             str(bundle), cid], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "got-term" in out
    assert proc.returncode == 7


@pytest.mark.parametrize("sig", ["KILL", "SIGKILL", "9", "kill"])
def test_kill_by_name_and_number(runcgo: Runcgo, sig: str) -> None:
    cid, bundle = runcgo.bundle(["sleep", "30"])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    pid = runcgo.state(cid)["pid"]
    r = runcgo("kill", cid, sig)
    assert r.returncode == 0, r.stderr
    wait_status(runcgo, cid, "stopped")
    assert wait_gone(pid)
    runcgo("delete", cid, check=True)


def test_kill_default_is_term_and_usr1_reaches_trap(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(
        ["sh", "-c", "trap 'echo usr1 > /tmp/got' USR1; trap 'exit 0' TERM; "
                     "while true; do sleep 0.05; done"], **{"root.readonly": False})
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    runcgo("kill", cid, "USR1", check=True)
    rootfs = bundle / "rootfs"
    deadline = time.monotonic() + 5
    # /tmp is the rootfs's own directory (no tmpfs in the default spec)
    while not (rootfs / "tmp" / "got").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (rootfs / "tmp" / "got").read_text() == "usr1\n"
    runcgo("kill", cid, check=True)
    wait_status(runcgo, cid, "stopped")
    runcgo("delete", cid, check=True)


def test_kill_errors(runcgo: Runcgo) -> None:
    r = runcgo("kill", "nosuch", "9")
    assert r.returncode == 1 and "does not exist" in r.stderr
    cid, bundle = runcgo.bundle(["true"])
    runcgo("run", "--keep", "--bundle", str(bundle), cid)
    r = runcgo("kill", cid, "9")
    assert r.returncode == 1 and "container not running" in r.stderr
    r = runcgo("kill", cid, "NOPE")
    assert r.returncode == 1 and "NOPE" in r.stderr
    runcgo("delete", cid, check=True)


def test_delete_force_of_running_and_missing(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sleep", "30"])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    pid = runcgo.state(cid)["pid"]
    r = runcgo("delete", cid)
    assert r.returncode == 1 and "running" in r.stderr
    r = runcgo("delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    assert not (runcgo.root / cid).exists()
    assert wait_gone(pid)
    # Docker's shim always follows delete with delete --force: a missing ID is fine.
    assert runcgo("delete", "--force", cid).returncode == 0
    r = runcgo("delete", cid)
    assert r.returncode == 1 and "does not exist" in r.stderr


def test_delete_force_takes_every_process_of_the_container(runcgo: Runcgo) -> None:
    """A background child of the init and a detached exec die with the init's pid
    namespace; their cgroups are gone too (delete --force of a running container)."""
    cid, bundle = runcgo.bundle(["sh", "-c", "sleep 101 & exec sleep 102"])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    runcgo("exec", "-d", cid, "sleep", "103", check=True)
    dirs = json.loads((runcgo.root / cid / "state.json").read_text())["cgroup"]["dirs"]
    procs_file = os.path.join(dirs["pids"], "cgroup.procs")
    deadline = time.monotonic() + 5
    pids: list[int] = []
    while len(pids) < 3 and time.monotonic() < deadline:
        with open(procs_file) as f:
            pids = [int(p) for p in f.read().split()]
    assert len(pids) == 3, pids
    assert runcgo("delete", "--force", cid).returncode == 0
    for pid in pids:
        assert wait_gone(pid), pid
    for d in dirs.values():
        assert not os.path.exists(d), d
    assert not (runcgo.root / cid).exists()


def test_delete_of_created_container(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["true"])
    runcgo("create", "--bundle", str(bundle), cid, check=True)
    pid = runcgo.state(cid)["pid"]
    assert runcgo("delete", cid).returncode == 0
    assert wait_gone(pid)
    assert not (runcgo.root / cid).exists()


def test_two_containers_at_once_and_list(runcgo: Runcgo) -> None:
    a, ba = runcgo.bundle(["sleep", "30"])
    b, bb = runcgo.bundle(["sleep", "30"])
    runcgo("run", "-d", "--bundle", str(ba), a, check=True)
    runcgo("run", "-d", "--bundle", str(bb), b, check=True)
    sa, sb = runcgo.state(a), runcgo.state(b)
    assert sa["pid"] != sb["pid"]
    # distinct pid namespaces
    assert os.readlink(f"/proc/{sa['pid']}/ns/pid") != os.readlink(f"/proc/{sb['pid']}/ns/pid")
    listing = json.loads(runcgo("list", "--format", "json", check=True).stdout)
    assert {c["id"] for c in listing} == {a, b}
    assert all(c["status"] == "running" for c in listing)
    quiet = runcgo("list", "-q", check=True).stdout.split()
    assert sorted(quiet) == sorted([a, b])
    table = runcgo("list", check=True).stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    runcgo("delete", "-f", a, check=True)
    runcgo("delete", "-f", b, check=True)


def test_pid_namespace_and_pid1(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sh", "-c", "echo $$; ps -o pid,comm"])
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0] == "1"
    pids = sorted(int(ln.split()[0]) for ln in lines[2:] if ln.strip())
    assert pids == [1]  # busybox sh execs its last command: ps is PID 1, alone


def test_host_sees_nested_pid_namespace(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sleep", "30"])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    pid = runcgo.state(cid)["pid"]
    with open(f"/proc/{pid}/status") as f:
        nspid = next(ln for ln in f if ln.startswith("NSpid:")).split()[1:]
    assert nspid == [str(pid), "1"]
    assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    runcgo("delete", "-f", cid, check=True)


def test_version_shape() -> None:
    r = subprocess.run([*runcgo_cmd(), "--version"], capture_output=True, text=True)
    lines = r.stdout.splitlines()
    assert r.returncode == 0
    assert lines[0].startswith("runcgo version ") and "(runc version 1.1.5 compatible)" in lines[0]
    assert lines[1].startswith("commit: ")
    assert lines[2] == "spec: 1.3.0"


def test_run_detached_pid_file_and_multi_delete(runcgo: Runcgo) -> None:
    a, ba = runcgo.bundle(["sleep", "30"])
    b, bb = runcgo.bundle(["sleep", "30"])
    pidfile = ba / "run.pid"
    runcgo("run", "-d", "--pid-file", str(pidfile), "--bundle", str(ba), a, check=True)
    runcgo("run", "--detach", "--bundle", str(bb), b, check=True)
    assert int(pidfile.read_text()) == runcgo.state(a)["pid"]
    assert proc_alive(runcgo.state(a)["pid"]) and proc_alive(runcgo.state(b)["pid"])
    r = runcgo("delete", "--force", a, b)
    assert r.returncode == 0, r.stderr
    assert runcgo("list", "-q").stdout == ""


def test_list_of_an_empty_root(runcgo: Runcgo) -> None:
    r = runcgo("list")
    assert r.returncode == 0
    assert r.stdout.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert runcgo("list", "--format", "json").stdout.strip() == "[]"


def test_spec_writes_a_runnable_default_and_refuses_to_overwrite(runcgo: Runcgo, tmp_path) -> None:
    import bundles

    bundle = tmp_path / "b"
    bundle.mkdir()
    bundles.make_rootfs(str(bundle / "rootfs"))
    assert runcgo("spec", "--bundle", str(bundle)).returncode == 0
    cfg = json.loads((bundle / "config.json").read_text())
    assert cfg["ociVersion"] == "1.3.0" and cfg["process"]["args"] == ["sh"]
    assert cfg["root"] == {"path": "rootfs", "readonly": True}
    r = runcgo("spec", "--bundle", str(bundle))
    assert r.returncode == 1 and "exists" in r.stderr
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["hostname"]
    cfg["linux"]["cgroupsPath"] = f"/{runcgo_prefix()}{bundle.name}"
    (bundle / "config.json").write_text(json.dumps(cfg))
    cid = runcgo.new_id()
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0 and r.stdout == "runcgo\n"
    rootless = tmp_path / "rl"
    rootless.mkdir()
    assert runcgo("spec", "--rootless", "--bundle", str(rootless)).returncode == 0
    rl = json.loads((rootless / "config.json").read_text())
    assert {"type": "user"} in rl["linux"]["namespaces"] and rl["linux"]["uidMappings"]


def runcgo_prefix() -> str:
    from harness import TEST_CG_PREFIX

    return TEST_CG_PREFIX


def test_runc_go_forms_bundle_as_second_argument(runcgo: Runcgo) -> None:
    """runc-go's README: `run ID BUNDLE` / `create ID BUNDLE`, same as --bundle."""
    cid, bundle = runcgo.bundle(["sh", "-c", "echo in-$(hostname)"])
    r = runcgo("run", cid, str(bundle))
    assert r.returncode == 0 and r.stdout == "in-runcgo\n", r.stderr
    cid2, bundle2 = runcgo.bundle(["true"])
    runcgo("create", cid2, str(bundle2), check=True)
    assert runcgo.state(cid2)["bundle"] == str(bundle2)
    runcgo("delete", "-f", cid2, check=True)
    r = runcgo("run", "--bundle", str(bundle), runcgo.new_id(), str(bundle2))
    assert r.returncode == 1 and "two bundles" in r.stderr
    assert runcgo("run", cid, str(bundle), "extra").returncode == 1


def test_run_t_gives_a_terminal_when_the_config_says_false(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sh", "-c", "tty; echo done"])
    assert json.loads((bundle / "config.json").read_text())["process"]["terminal"] is False
    r = runcgo("run", "-t", cid, str(bundle))
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace("\r", "").splitlines()[0].startswith("/dev/pts/")
    cid, bundle = runcgo.bundle(["tty"])
    assert runcgo("run", cid, str(bundle)).stdout.strip() == "not a tty"


def test_spec_redirected_to_config_json_explains(tmp_path: Path) -> None:
    """`runcgo spec > config.json` (runc-go's README): the shell made the file empty."""
    bundle = tmp_path / "b"
    bundle.mkdir()
    with open(bundle / "config.json", "w") as out:
        r = subprocess.run([*runcgo_cmd(), "spec"], cwd=bundle, stdout=out, stderr=subprocess.PIPE,
                           text=True)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1
    assert "writes config.json itself" in r.stderr
    (bundle / "config.json").unlink()
    subprocess.run([*runcgo_cmd(), "spec"], cwd=bundle, check=True)
    assert json.loads((bundle / "config.json").read_text())["process"]["args"] == ["sh"]


def test_bash_completion_offers_container_ids(runcgo: Runcgo, tmp_path: Path) -> None:
    """`runcgo --root R kill <TAB>` lists the containers under R (from `list -q`)."""
    import shlex

    from runcgo import docgen

    script = tmp_path / "runcgo.bash"
    docgen.main(["completion", str(script)])
    cid, bundle = runcgo.bundle(["sleep", "300"])
    runcgo("create", "--bundle", str(bundle), cid, check=True)
    bindir = tmp_path / "bin"  # `runcgo` as the completion calls it: this test's CLI
    bindir.mkdir()
    (bindir / "runcgo").write_text(f"#!/bin/sh\nexec {shlex.join(runcgo_cmd())} \"$@\"\n")
    (bindir / "runcgo").chmod(0o755)
    prog = (f"source {script}; COMP_WORDS=(runcgo --root {runcgo.root} kill ''); COMP_CWORD=4; "
            "_runcgo; printf '%s\\n' \"${COMPREPLY[@]}\"")
    out = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, check=True,
                         env={**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"})
    assert out.stdout.split() == [cid]
    runcgo("delete", "-f", cid, check=True)
