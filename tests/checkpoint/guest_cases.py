"""The checkpoint tier's round trips, run INSIDE the Debian-kernel guest.

Each case runs for every runtime given (runcgo, and runc as the control) with
the guest's criu; every step checks what it can observe (the counter file the
container writes, ``state``, /proc/net/tcp through ``exec``, cgroup dirs, the
state root).  Prints a per-case table and writes JSON results for the host
test (tests/checkpoint/test_checkpoint.py).  Standard library + tests/bundles.py.

    python tests/checkpoint/guest_cases.py --runtime runcgo='python -m runcgo' \
        --runtime runc=/usr/sbin/runc --out results.json [--case NAME]...
"""

from __future__ import annotations

import argparse
import array
import json
import os
import select
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import cgtree

import bundles

WORK = Path("/tmp/cr-tier")
# Set by main(): the host tier (test_checkpoint_host.py) runs these cases on the v1 host
# with a criu it built, its cgroups under a runcgo-test- prefix.
CRIU = "criu"
CG_PREFIX = ""


def cg_name(name: str) -> str:
    """The cgroupsPath of a case's container."""
    return f"{CG_PREFIX}/{name}"


def cg_exists(cgroup: str) -> bool:
    """``cgroup`` in any hierarchy (the one cgroup2 mount, or each v1 controller)."""
    return bool(cgtree.tops(cgroup))


def cg_procs(cgroup: str) -> set[str]:
    """The pids in ``cgroup`` in every hierarchy that holds it (v1: a process
    restored into only some controllers' cgroups is not in it)."""
    sets = [set(Path(top, "cgroup.procs").read_text().split()) for top in cgtree.tops(cgroup)]
    return set.intersection(*sets) if sets else set()
COUNTER = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /count; sleep 0.2; done"]


class CaseFailed(AssertionError):
    pass


class CaseSkipped(Exception):
    """The case can't run here (its reason is reported; the host test skips it)."""


def check(cond: object, what: str) -> None:
    if not cond:
        raise CaseFailed(what)


class Runtime:
    """One runtime's CLI with a private --root; every call's time is kept."""

    def __init__(self, name: str, cmd: list[str], root: Path) -> None:
        self.name, self.cmd, self.root = name, cmd, root
        self.steps: list[tuple[str, float]] = []
        self.observed: dict[str, Any] = {}  # what a case saw, compared across runtimes

    def __call__(self, *args: str, ok: bool = True, stdin: Any = subprocess.DEVNULL,
                 timeout: float = 180) -> subprocess.CompletedProcess[str]:
        argv = [*self.cmd, "--root", str(self.root), *args]
        t0 = time.monotonic()
        if args[0] in ("run", "restore"):
            # A detached container keeps its stdio: pipes (criu can dump them, and a
            # restore re-attaches them with --inherit-fd); read what is there, no EOF.
            p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()  # ours: a runtime stuck in criu must not outlive the case
                p.wait()
                raise
            r = subprocess.CompletedProcess(argv, p.returncode, _drain(p.stdout), _drain(p.stderr))
        else:
            with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
                q = subprocess.run(argv, stdin=stdin, stdout=out, stderr=err, timeout=timeout)
                out.seek(0)
                err.seek(0)
                r = subprocess.CompletedProcess(argv, q.returncode, out.read(), err.read())
        self.steps.append((args[0], time.monotonic() - t0))
        if ok and r.returncode != 0:
            raise CaseFailed(f"{self.name} {' '.join(args)}: exit {r.returncode}: "
                             f"{(r.stderr or r.stdout).strip()[-600:]}")
        return r

    def status(self, cid: str) -> str | None:
        r = self("state", cid, ok=False)
        return json.loads(r.stdout)["status"] if r.returncode == 0 else None

    def ids(self) -> list[str]:
        r = self("list", "-q", ok=False)
        return r.stdout.split()


def _drain(pipe: Any) -> str:
    """What a pipe holds now, without waiting for an EOF a detached container prevents."""
    fd = pipe.fileno()
    os.set_blocking(fd, False)
    data = b""
    try:
        while chunk := os.read(fd, 65536):
            data += chunk
    except BlockingIOError:
        pass
    pipe.close()
    return data.decode(errors="replace")


def make_bundle(path: Path, args: list[str], cgroup: str) -> Path:
    path.mkdir(parents=True)
    bundles.make_rootfs(str(path / "rootfs"))
    cfg = bundles.default_config()
    cfg["process"]["args"] = args
    cfg["process"]["terminal"] = False
    cfg["root"]["readonly"] = False  # the counter writes /count
    cfg["linux"]["cgroupsPath"] = cgroup
    (path / "config.json").write_text(json.dumps(cfg, indent=1))
    return path


def count(bundle: Path) -> int:
    try:
        return int((bundle / "rootfs" / "count").read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def wait_count_above(bundle: Path, n: int, timeout: float = 30) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        c = count(bundle)
        if c > n:
            return c
        time.sleep(0.1)
    raise CaseFailed(f"the counter did not pass {n} within {timeout} s (at {count(bundle)})")


def assert_stopped_counting(bundle: Path) -> int:
    c = count(bundle)
    time.sleep(1.0)
    check(count(bundle) == c, f"the counter still runs after checkpoint ({c} -> {count(bundle)})")
    return c


def assert_gone(rt: Runtime, cid: str, cgroup: str) -> None:
    """No state directory (runc and runcgo both keep <root>/<id>) and no cgroup.
    Read from here, not through the CLI: a CLI call costs seconds in the guest."""
    check(not (rt.root / cid).exists(), f"{cid}: state directory still there")
    check(not cg_exists(cgroup), f"cgroup {cgroup} left behind")


def run_counter(rt: Runtime, cid: str, bundle: Path) -> int:
    rt("run", "-d", "--bundle", str(bundle), cid)
    return wait_count_above(bundle, 2)


def pid_gone(pid: int, timeout: float = 20) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def restored_ok(rt: Runtime, cid: str, bundle: Path, before: int, cgroup: str) -> None:
    """The restored container is ordinary: running, counting on, exec works, kill + delete."""
    st = json.loads(rt("state", cid).stdout)
    check(st["status"] == "running", f"{cid} is {st['status']} after restore")
    wait_count_above(bundle, before + 2)
    r = rt("exec", cid, "cat", "/count")
    check(int(r.stdout.strip()) > before, f"exec in the restored container saw {r.stdout!r}")
    procs = cg_procs(cgroup)
    check(str(st["pid"]) in procs, f"restored init {st['pid']} not in {cgroup} ({procs})")
    rt("kill", cid, "KILL")
    check(pid_gone(st["pid"]), f"{cid} still running after kill")
    rt("delete", cid)
    assert_gone(rt, cid, cgroup)


# -- the cases -----------------------------------------------------------------


def case_counter(rt: Runtime, d: Path, tag: str) -> None:
    """checkpoint (the container is gone), restore -d under the same ID: counts on."""
    cid, cg = f"cr-{tag}-cnt", cg_name(f"cr-{tag}-cnt")
    bundle = make_bundle(d / "bundle", COUNTER, cg)
    run_counter(rt, cid, bundle)
    rt("checkpoint", "--image-path", str(d / "img"), "--work-path", str(d / "work"), cid)
    before = assert_stopped_counting(bundle)
    assert_gone(rt, cid, cg)
    check(rt.status(cid) is None, "state still answers after the checkpoint (runc: gone)")
    rt("restore", "-d", "--image-path", str(d / "img"), "--work-path", str(d / "work"),
       "--bundle", str(bundle), "--pid-file", str(d / "pid"), cid)
    pid = int((d / "pid").read_text())
    check(json.loads(rt("state", cid).stdout)["pid"] == pid, "--pid-file differs from state")
    restored_ok(rt, cid, bundle, before, cg)


def case_leave_running_new_id(rt: Runtime, d: Path, tag: str) -> None:
    """checkpoint --leave-running (still running), then restore under a new ID."""
    cid, cg = f"cr-{tag}-lr", cg_name(f"cr-{tag}-lr")
    bundle = make_bundle(d / "bundle", COUNTER, cg)
    run_counter(rt, cid, bundle)
    rt("checkpoint", "--leave-running", "--image-path", str(d / "img"), cid)
    check(rt.status(cid) == "running", "not running after --leave-running")
    c = count(bundle)
    wait_count_above(bundle, c + 1)
    rt("delete", "--force", cid)
    assert_gone(rt, cid, cg)
    before = count(bundle)
    new = f"cr-{tag}-lr-new"
    rt("restore", "-d", "--image-path", str(d / "img"), "--bundle", str(bundle), new)
    check(not (rt.root / cid).exists(), "the old ID came back")
    # the counter restarts from the checkpoint's value: it counts again, from below `before`
    c0 = count(bundle)
    wait_count_above(bundle, c0 + 1)
    restored_ok(rt, new, bundle, 0, cg)
    del before


def case_pre_dump(rt: Runtime, d: Path, tag: str) -> None:
    """pre-dump (still running), then a dump with --parent-path; a foreground restore
    (no --detach) counts on, waits for the container, exits with its status (3) and
    deletes it."""
    cid, cg = f"cr-{tag}-pre", cg_name(f"cr-{tag}-pre")
    script = ("i=0; while [ ! -e /stop ]; do i=$((i+1)); echo $i > /count; sleep 0.2; done; "
              "exit 3")
    bundle = make_bundle(d / "bundle", ["sh", "-c", script], cg)
    run_counter(rt, cid, bundle)
    img = d / "img"
    rt("checkpoint", "--pre-dump", "--image-path", str(img / "parent"), cid)
    check(rt.status(cid) == "running", "not running after --pre-dump")
    check(any((img / "parent").glob("pages-*.img")), "pre-dump wrote no page images")
    wait_count_above(bundle, count(bundle) + 1)
    rt("checkpoint", "--image-path", str(img / "final"), "--parent-path", "../parent", cid)
    check((img / "final" / "parent").is_symlink(), "the dump has no parent link")
    before = assert_stopped_counting(bundle)
    assert_gone(rt, cid, cg)
    t0 = time.monotonic()
    p = subprocess.Popen([*rt.cmd, "--root", str(rt.root), "restore", "--image-path",
                          str(img / "final"), "--bundle", str(bundle), cid],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_count_above(bundle, before + 2)
        check(p.poll() is None, f"restore returned {p.returncode} while the container runs")
        (bundle / "rootfs" / "stop").touch()
        p.wait(60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    rt.steps.append(("restore", time.monotonic() - t0))
    err = _drain(p.stderr)
    _drain(p.stdout)
    check(p.returncode == 3, f"restore exited {p.returncode}, the container 3: {err.strip()}")
    assert_gone(rt, cid, cg)


def _listening(pid: int, port: int) -> bool:
    """A LISTEN socket on ``port`` in the netns of ``pid`` (busybox httpd binds ::)."""
    want = f":{port:04X}"
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            f = line.split()
            if len(f) > 3 and f[1].endswith(want) and f[3] == "0A":
                return True
    return False


def case_tcp(rt: Runtime, d: Path, tag: str) -> None:
    """A TCP listener, checkpointed with --tcp-established: it listens after restore."""
    cid, cg = f"cr-{tag}-tcp", cg_name(f"cr-{tag}-tcp")
    bundle = make_bundle(d / "bundle", ["httpd", "-f", "-p", "8080"], cg)
    rt("run", "-d", "--bundle", str(bundle), cid)
    pid = json.loads(rt("state", cid).stdout)["pid"]
    end = time.monotonic() + 30
    while not _listening(pid, 8080):
        check(time.monotonic() < end, "httpd never listened")
        time.sleep(0.2)
    rt("checkpoint", "--tcp-established", "--image-path", str(d / "img"), cid)
    assert_gone(rt, cid, cg)
    rt("restore", "-d", "--tcp-established", "--image-path", str(d / "img"), "--bundle",
       str(bundle), cid)
    st = json.loads(rt("state", cid).stdout)
    check(st["status"] == "running", "not running after restore")
    check(_listening(st["pid"], 8080), "port 8080 not listening after restore")
    r = rt("exec", cid, "cat", "/proc/net/tcp6")
    check(":1F90 " in r.stdout, f"exec does not see the listener: {r.stdout!r}")
    rt("delete", "--force", cid)
    assert_gone(rt, cid, cg)


class Console:
    """A --console-socket listener: the pty master a runtime sends, and talking to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.listener.settimeout(120)
        self.master = -1

    def accept(self) -> int:
        conn, _ = self.listener.accept()
        with conn:
            fds = array.array("i")
            _, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(4 * fds.itemsize))
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
        check(len(fds) == 1, f"the console socket got {len(fds)} fds, not one")
        self.master = fds[0]
        return self.master

    def say(self, line: str, expect: str, timeout: float = 30) -> str:
        """Type ``line`` on the terminal; read until ``expect`` appears (the output,
        not the echo: expect what only running the line prints)."""
        os.write(self.master, line.encode() + b"\r")
        buf = b""
        end = time.monotonic() + timeout
        while expect.encode() not in buf:
            left = end - time.monotonic()
            check(left > 0, f"no {expect!r} on the terminal after {line!r}: {buf[-300:]!r}")
            r, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if r:
                try:
                    buf += os.read(self.master, 4096)
                except OSError as exc:  # EIO: the slave side is gone
                    raise CaseFailed(f"terminal closed ({exc}) before {expect!r}") from None
        return buf.decode(errors="replace")

    def close(self) -> None:
        self.listener.close()
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


def case_terminal(rt: Runtime, d: Path, tag: str) -> None:
    """A shell on a terminal (process.terminal, --console-socket): checkpoint, restore
    -d with a NEW console socket: the same shell (its variable kept) answers on the
    new pty; checkpoint the restored one again, restore it with a third socket; the
    shell's `exit` stops the container; nothing left.  (Foreground restore is left
    out: runc then relays the terminal itself and ignores --console-socket.)"""
    cid, cg = f"cr-{tag}-tty", cg_name(f"cr-{tag}-tty")
    bundle = make_bundle(d / "bundle", ["sh"], cg)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["terminal"] = True
    (bundle / "config.json").write_text(json.dumps(cfg, indent=1))
    first = Console(d / "c1.sock")
    try:
        rt("run", "-d", "--console-socket", str(first.path), "--bundle", str(bundle), cid)
        first.accept()
        first.say("X=kept; echo $X-$((6*7))", "kept-42")
        rt("checkpoint", "--image-path", str(d / "img1"), "--work-path", str(d / "work"), cid)
        assert_gone(rt, cid, cg)
    finally:
        first.close()  # the old master: the restored shell has a new one
    second = Console(d / "c2.sock")
    try:
        rt("restore", "-d", "--console-socket", str(second.path), "--image-path",
           str(d / "img1"), "--work-path", str(d / "work"), "--bundle", str(bundle), cid)
        second.accept()
        st = json.loads(rt("state", cid).stdout)
        check(st["status"] == "running", f"{cid} is {st['status']} after restore")
        second.say("echo $X-$((20+3)); tty", "kept-23")
        procs = cg_procs(cg)
        check(str(st["pid"]) in procs, f"restored init {st['pid']} not in {cg} ({procs})")
        rt("checkpoint", "--image-path", str(d / "img2"), "--work-path", str(d / "work"), cid)
        assert_gone(rt, cid, cg)
    finally:
        second.close()
    third = Console(d / "c3.sock")
    try:
        rt("restore", "-d", "--console-socket", str(third.path), "--image-path",
           str(d / "img2"), "--work-path", str(d / "work"), "--bundle", str(bundle), cid)
        third.accept()
        pid = json.loads(rt("state", cid).stdout)["pid"]
        third.say("echo $X-$((30+3))", "kept-33")
        os.write(third.master, b"exit 7\r")
        check(pid_gone(pid), "the restored shell did not exit")
    finally:
        third.close()
    check(rt.status(cid) == "stopped", f"{cid} is {rt.status(cid)} after the shell's exit")
    rt("delete", cid)
    assert_gone(rt, cid, cg)


def _proc_brief(pid: int) -> str:
    """State, wchan and children of a process (why it does not run on)."""
    try:
        state = [ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
                 if ln.startswith("State")]
        wchan = Path(f"/proc/{pid}/wchan").read_text()
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return f"pid {pid} {state} wchan={wchan} children={kids} " + " ".join(
            f"{k}:{Path(f'/proc/{k}/wchan').read_text()}" for k in kids)
    except OSError as exc:
        return f"pid {pid}: {exc}"


def case_lazy_pages(rt: Runtime, d: Path, tag: str) -> None:
    """checkpoint --lazy-pages --page-server ADDR:PORT --status-fd: criu serves the
    memory and says so on the status fd; `criu lazy-pages` fetches it for a restore
    --lazy-pages under a new ID, which counts on; the dumped container is gone once
    its last page moved (runc's checkpoint.bats case)."""
    cid, cg = f"cr-{tag}-lazy", cg_name(f"cr-{tag}-lazy")
    bundle = make_bundle(d / "bundle", COUNTER, cg)
    cfg = json.loads((bundle / "config.json").read_text())
    poststop = d / "poststop.json"
    cfg["hooks"] = {"poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat >> {poststop}"]}]}
    (bundle / "config.json").write_text(json.dumps(cfg, indent=1))
    run_counter(rt, cid, bundle)
    img, work = d / "img", d / "work"
    img.mkdir()
    work.mkdir()
    port = 27000 + sum(map(ord, tag)) % 500
    r, w = os.pipe()
    t0 = time.monotonic()
    dump = subprocess.Popen([*rt.cmd, "--root", str(rt.root), "checkpoint", "--lazy-pages",
                             "--page-server", f"127.0.0.1:{port}", "--status-fd", str(w),
                             "--work-path", str(work), "--image-path", str(img), cid],
                            pass_fds=(w,), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    os.close(w)
    lazy = None
    try:
        ready, _, _ = select.select([r], [], [], 120)
        got = os.read(r, 1) if ready else b""
        rt.steps.append(("checkpoint", time.monotonic() - t0))
        check(got == b"\0", f"no \\0 on --status-fd (got {got!r}); checkpoint: "
              f"{dump.poll()} {_drain(dump.stderr) if dump.poll() is not None else ''}")
        print(f"  {rt.name}: lazy page server ready after {time.monotonic() - t0:.1f}s",
              flush=True)
        check((img / "inventory.img").exists(), "no inventory.img while serving pages")
        lazy = subprocess.Popen([CRIU, "lazy-pages", "--page-server", "--address",
                                 "127.0.0.1", "--port", str(port), "-D", str(img)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        new = f"{cid}-new"
        rt("restore", "-d", "--lazy-pages", "--image-path", str(img), "--work-path", str(img),
           "--bundle", str(bundle), new)
        dump.wait(120)
        check(dump.returncode == 0, f"the lazy checkpoint exited {dump.returncode}: "
              f"{_drain(dump.stderr).strip()[-300:]}")
        lazy.wait(120)
        check(not (rt.root / cid).exists(), "the dumped container is still there")
        # the dumped original is destroyed once its last page moved: its poststop hook ran
        check(poststop.exists(), "no poststop hook ran for the dumped container")
        hook_state = json.loads(poststop.read_text())
        check(hook_state.get("id") == cid and hook_state.get("status") == "stopped",
              f"poststop hook state: {hook_state}")
        c = count(bundle)
        pid = json.loads(rt("state", new).stdout)["pid"]
        try:
            wait_count_above(bundle, c + 2)
        except CaseFailed as exc:
            raise CaseFailed(f"{exc}; restored init: {_proc_brief(pid)}") from None
        rt("delete", "--force", new)
        assert_gone(rt, new, cg)
    finally:
        os.close(r)
        for p in (dump, lazy):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def case_restore_hooks(rt: Runtime, d: Path, tag: str) -> None:
    """prestart and createRuntime hooks run again at restore, once the restored
    namespaces exist (criu's setup-namespaces), with the restored init's pid in the
    state they read on stdin (runc's behaviour)."""
    cid, cg = f"cr-{tag}-hook", cg_name(f"cr-{tag}-hook")
    bundle = make_bundle(d / "bundle", COUNTER, cg)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["hooks"] = {kind: [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {d}/{kind}.json"]}]
                    for kind in ("prestart", "createRuntime")}
    (bundle / "config.json").write_text(json.dumps(cfg, indent=1))
    run_counter(rt, cid, bundle)
    rt("checkpoint", "--image-path", str(d / "img"), cid)
    assert_gone(rt, cid, cg)
    for kind in ("prestart", "createRuntime"):
        (d / f"{kind}.json").unlink()
    rt("restore", "-d", "--image-path", str(d / "img"), "--bundle", str(bundle), cid)
    pid = json.loads(rt("state", cid).stdout)["pid"]
    for kind in ("prestart", "createRuntime"):
        check((d / f"{kind}.json").exists(), f"the {kind} hook did not run at restore")
        st = json.loads((d / f"{kind}.json").read_text())
        check(st.get("id") == cid, f"{kind} hook state: {st}")
        check(st.get("pid") == pid, f"{kind} hook saw pid {st.get('pid')}, the restored "
              f"init is {pid}")
    restored_ok(rt, cid, bundle, 0, cg)


APPARMOR_PROFILES = """abi <abi/3.0>,
profile runcgo-test-cr flags=(unconfined) {
}
profile runcgo-test-cr2 flags=(unconfined) {
}
"""


def _apparmor_label(pid: int) -> str:
    return Path(f"/proc/{pid}/attr/current").read_text().strip()


def _load_apparmor_profiles(d: Path) -> None:
    """Two profiles in the kernel for the lsm case (unconfined mode: labels only, nothing
    is denied), or CaseSkipped saying what is missing."""
    try:
        enabled = Path("/sys/module/apparmor/parameters/enabled").read_text().strip()
    except OSError:
        enabled = "N"
    if enabled != "Y":
        raise CaseSkipped("AppArmor is not enabled in this kernel")
    parser = shutil.which("apparmor_parser")
    if parser is None:
        raise CaseSkipped("apparmor_parser is not installed (apt-get install apparmor)")
    sec = Path("/sys/kernel/security")
    if not (sec / "apparmor").exists():  # the guest mounts no securityfs by itself
        subprocess.run(["mount", "-t", "securityfs", "securityfs", str(sec)], check=True)
    prof = d / "profiles"
    prof.write_text(APPARMOR_PROFILES)
    subprocess.run([parser, "-r", str(prof)], check=True, capture_output=True)


def case_lsm_profile(rt: Runtime, d: Path, tag: str) -> None:
    """restore --lsm-profile apparmor:NAME of a container that ran under an AppArmor
    profile (process.apparmorProfile): the restored init runs under NAME.  The labels
    are also compared with runc's by the host test (tests/checkpoint/test_checkpoint_vm.py)."""
    _load_apparmor_profiles(d)
    cid, cg = f"cr-{tag}-lsm", cg_name(f"cr-{tag}-lsm")
    bundle = make_bundle(d / "bundle", COUNTER, cg)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["apparmorProfile"] = "runcgo-test-cr"
    (bundle / "config.json").write_text(json.dumps(cfg, indent=1))
    run_counter(rt, cid, bundle)
    pid = json.loads(rt("state", cid).stdout)["pid"]
    rt.observed["before"] = _apparmor_label(pid)
    check(rt.observed["before"].startswith("runcgo-test-cr "),
          f"the container runs as {rt.observed['before']!r}, not under its apparmorProfile")
    rt("checkpoint", "--image-path", str(d / "img"), cid)
    assert_gone(rt, cid, cg)
    rt("restore", "-d", "--lsm-profile", "apparmor:runcgo-test-cr2", "--image-path",
       str(d / "img"), "--bundle", str(bundle), cid)
    pid = json.loads(rt("state", cid).stdout)["pid"]
    rt.observed["after"] = _apparmor_label(pid)
    check(rt.observed["after"].startswith("runcgo-test-cr2 "),
          f"the restored init runs as {rt.observed['after']!r}, not the --lsm-profile")
    restored_ok(rt, cid, bundle, 0, cg)


def case_podman(rt: Runtime, d: Path, tag: str) -> None:
    """podman (Debian's 4.3) with ``--runtime`` this runtime: `container checkpoint`
    (exited), `container restore` (the counter goes on, exec works), `checkpoint
    --export` then `restore --import --name` (a second container from the archive),
    and `rm -f` leaves nothing.  Private storage (vfs) and run dirs under the case's."""
    podman = shutil.which("podman")
    if podman is None:
        raise CaseSkipped("podman is not installed")
    if len(rt.cmd) != 1:
        raise CaseSkipped(f"podman needs the runtime as one executable, not {rt.cmd}")
    tar = d / "box.tar"
    bundles.make_rootfs(str(d / "rootfs"))
    subprocess.run(["tar", "-C", str(d / "rootfs"), "-cf", str(tar), "."], check=True)
    base = [podman, "--root", str(d / "storage"), "--runroot", str(d / "run"),
            "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend",
            "file", "--runtime", rt.cmd[0]]

    def pm(*args: str, timeout: float = 300) -> str:
        t0 = time.monotonic()
        r = subprocess.run([*base, *args], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout)
        if args[0] == "container":
            rt.steps.append((args[1], time.monotonic() - t0))
        if r.returncode != 0:
            raise CaseFailed(f"podman {' '.join(args)}: exit {r.returncode}: "
                             f"{(r.stderr or r.stdout).strip()[-600:]}")
        return r.stdout.strip()

    def counted(name: str) -> int:
        return int(pm("exec", name, "cat", "/count") or 0)

    image = f"localhost/cr-{tag}"
    pm("import", str(tar), image)
    try:
        pm("run", "-d", "--network", "none", "--name", f"{tag}-c1", image, *COUNTER)
        deadline = time.monotonic() + 60
        while (before := counted(f"{tag}-c1")) < 3 and time.monotonic() < deadline:
            time.sleep(0.3)
        pm("container", "checkpoint", f"{tag}-c1")
        status = pm("inspect", "-f", "{{.State.Status}}", f"{tag}-c1")
        check(status == "exited", f"after checkpoint podman says {status!r}")
        pm("container", "restore", f"{tag}-c1")
        after = counted(f"{tag}-c1")
        check(after >= before, f"the counter went back from {before} to {after}")
        time.sleep(1)
        check(counted(f"{tag}-c1") > after, "the restored counter does not count")
        pm("container", "checkpoint", "--export", str(d / "c1.tar.gz"), f"{tag}-c1")
        pm("container", "restore", "--import", str(d / "c1.tar.gz"), "--name", f"{tag}-c2")
        check(counted(f"{tag}-c2") >= before, "the imported container lost the count")
        rt.observed["counts"] = {"before": before, "after_restore": after}
    finally:
        subprocess.run([*base, "rm", "-f", "-t", "0", f"{tag}-c1", f"{tag}-c2"],
                       capture_output=True, timeout=300)
    left = pm("ps", "-aq")
    check(not left, f"podman still lists {left.split()}")


CASES: dict[str, Callable[[Runtime, Path, str], None]] = {
    "counter": case_counter, "leave-running+new-id": case_leave_running_new_id,
    "pre-dump+parent+foreground": case_pre_dump, "tcp-established": case_tcp,
    "terminal": case_terminal, "lazy-pages": case_lazy_pages,
    "restore-hooks": case_restore_hooks, "lsm-profile": case_lsm_profile,
    "podman": case_podman,
}


def api_cases(out: Path) -> list[dict[str, Any]]:
    """guest_api.py once per anyio backend, each in its own interpreter."""
    rows = []
    for backend in ("asyncio", "trio"):
        d = WORK / f"api-{backend}"
        d.mkdir(parents=True)
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, str(Path(__file__).with_name("guest_api.py")),
                            backend, str(d)], capture_output=True, text=True, timeout=300)
        took = time.monotonic() - t0
        ok = p.returncode == 0
        times = json.loads(p.stdout.strip().splitlines()[-1]) if ok else {}
        error = None if ok else (p.stderr.strip().splitlines() or ["no output"])[-1]
        if not ok:
            print(p.stderr, file=sys.stderr)
            keep_logs(d, out / "logs" / "api" / backend)
        rows.append({"runtime": "runcgo", "case": f"api-{backend}", "ok": ok, "error": error,
                     "seconds": round(took, 2),
                     "checkpoint_s": round(times.get("checkpoint_s", 0), 2),
                     "restore_s": round(times.get("restore_s", 0), 2)})
        print(f"runcgo  api-{backend:18} {'ok' if ok else 'FAIL'} {took:6.1f}s"
              + (f"  {error}" if error else ""), flush=True)
    return rows


def keep_logs(d: Path, dest: Path) -> None:
    """criu's logs of a failed case, next to the results (the guest's /tmp dies with it)."""
    for log in d.rglob("*.log"):
        target = dest / log.relative_to(d)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, target)


def cleanup(rt: Runtime) -> None:
    for cid in rt.ids():
        rt("delete", "--force", cid, ok=False)


def main() -> int:
    global CRIU, CG_PREFIX, WORK
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", action="append", required=True, help="NAME=COMMAND")
    ap.add_argument("--case", action="append", choices=sorted(CASES))
    ap.add_argument("--out", required=True)
    ap.add_argument("--api", action="store_true", help="also the async API (guest_api.py)")
    ap.add_argument("--criu", default="criu", help="criu for `criu lazy-pages` (the runtimes "
                    "get theirs with --criu in their COMMAND)")
    ap.add_argument("--cgroup-prefix", default="", help="a parent for the cases' cgroupsPath")
    ap.add_argument("--work", default=str(WORK), help=f"scratch directory (default {WORK})")
    a = ap.parse_args()
    CRIU, CG_PREFIX, WORK = a.criu, a.cgroup_prefix.rstrip("/"), Path(a.work)
    shutil.rmtree(WORK, ignore_errors=True)
    results: list[dict[str, Any]] = []
    names = a.case or list(CASES)
    for spec in a.runtime:
        rname, _, cmd = spec.partition("=")
        rt = Runtime(rname, shlex.split(cmd), WORK / rname / "root")
        for case in names:
            d = WORK / rname / case.replace("+", "-")
            d.mkdir(parents=True)
            rt.steps, rt.observed = [], {}
            t0 = time.monotonic()
            error = skip = None
            try:
                CASES[case](rt, d, rname[:5])
            except CaseSkipped as exc:
                skip = str(exc)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
                cleanup(rt)
                keep_logs(d, Path(a.out).parent / "logs" / rname / case)
            took = time.monotonic() - t0
            steps: dict[str, float] = {}
            for name, t in rt.steps:
                if name in ("checkpoint", "restore"):
                    steps[name] = steps.get(name, 0.0) + t
            results.append({"runtime": rname, "case": case, "ok": error is None,
                            "error": error, "skip": skip, "observed": rt.observed,
                            "seconds": round(took, 2),
                            "checkpoint_s": round(steps.get("checkpoint", 0), 2),
                            "restore_s": round(steps.get("restore", 0), 2)})
            mark = "skip" if skip else "ok" if error is None else "FAIL"
            print(f"{rname:7} {case:22} {mark} {took:6.1f}s"
                  + (f"  {error or skip}" if error or skip else ""), flush=True)
        left = rt.ids()
        results.append({"runtime": rname, "case": "nothing-left", "ok": not left,
                        "error": f"left: {left}" if left else None, "seconds": 0,
                        "checkpoint_s": 0, "restore_s": 0})
    if a.api:
        results += api_cases(Path(a.out).parent)
    Path(a.out).write_text(json.dumps(results, indent=1))
    print(table(results))
    return 0 if all(r["ok"] for r in results) else 1


def table(results: list[dict[str, Any]]) -> str:
    """case | runtime: ok, total (checkpoint / restore seconds)."""
    rts = list(dict.fromkeys(r["runtime"] for r in results))
    cases = list(dict.fromkeys(r["case"] for r in results))
    by = {(r["runtime"], r["case"]): r for r in results}
    lines = ["| case | " + " | ".join(f"{n}: total (checkpoint / restore)" for n in rts) + " |",
             "|---|" + "---|" * len(rts)]
    for c in cases:
        cells = []
        for n in rts:
            r = by.get((n, c))
            if r is None:
                cells.append("-")
                continue
            mark = "skip" if r.get("skip") else "ok" if r["ok"] else "FAIL"
            cells.append(f"{mark} {r['seconds']:.1f}s ({r['checkpoint_s']:.1f} / {r['restore_s']:.1f})")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
