#!/usr/bin/env python3
"""runcgo vs runc vs crun, side by side, on the same busybox bundle (stdlib only).

    python tests/bench/bench.py            # N=20 rounds
    python tests/bench/bench.py --quick    # CI smoke: N=3, small PTY file
    python tests/bench/bench.py --json out.json

Every timed operation is interleaved: round i runs runcgo, runc, crun (the
starting runtime rotates each round) before round i+1, so machine noise hits
all three alike.  Reported: median, p90 and the ratio of medians to runc and to
crun.  crun 1.8.1 refuses this hybrid cgroup host, so it runs through a wrapper
that gives it a private mount namespace with an empty tmpfs over
/sys/fs/cgroup/unified (the wrapper's own cost, ~unshare+sh+mount, is in its
numbers; the "--version" row shows it).

Needs root.  Everything is created under a private temp dir and cgroups under
/runcgo-bench-<pid>/ and removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pty
import re
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, REPO)

CGROOT = "/sys/fs/cgroup"
CRUN_WRAPPER = """#!/bin/sh
# crun 1.8.1 refuses a hybrid cgroup host: give it a private mount namespace
# where /sys/fs/cgroup/unified is an empty tmpfs.  A benchmark tool only.
exec unshare -m sh -c 'mount -t tmpfs tmpfs /sys/fs/cgroup/unified && exec {crun} "$@"' crun "$@"
"""


def write_crun_wrapper(dirpath: str, crun: str) -> str | None:
    """CRUN_WRAPPER for the ``crun`` found on PATH (or at that path), written as
    ``dirpath/crun-wrapper``; None when there is no such crun."""
    found = shutil.which(crun) if crun else None
    if found is None:
        return None
    path = os.path.join(dirpath, "crun-wrapper")
    with open(path, "w") as f:
        f.write(CRUN_WRAPPER.format(crun=found))
    os.chmod(path, 0o755)
    return path


class Runtime:
    def __init__(self, name: str, argv: list[str], root: str) -> None:
        self.name = name
        self.argv = argv
        self.root = root

    def cmd(self, *args: str) -> list[str]:
        return [*self.argv, "--root", self.root, *args]


class Failure(Exception):
    pass


class _Timeout(Exception):
    pass


def _alarm(_sig: int, _frame: Any) -> None:
    raise _Timeout


LAST_CPU = [0.0]  # user+sys CPU seconds of the last spawn_timed child (wait4 rusage)


def spawn_timed(argv: list[str], cwd: str | None = None, timeout: float = 60) -> float:
    """Wall time of one command, stdin/stdout on /dev/null, stderr to a file (a
    created container keeps whatever fds it inherited, so no pipes).

    Waits with a blocking wait4(), not Popen.wait(timeout): that one polls with
    an exponential back-off (0.5, 1, 2 ... 50 ms) and quantizes every timing to
    7.5, 15.5, 31.5, 63.5, 113.5 ms.  The timeout is a SIGALRM.
    """
    with tempfile.TemporaryFile() as err:
        old = signal.signal(signal.SIGALRM, _alarm)
        try:
            t0 = time.perf_counter()
            p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=err)
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                _, status, ru = os.wait4(p.pid, 0)
            except _Timeout:
                p.kill()
                p.wait()
                raise Failure(f"timeout: {shlex.join(argv)}") from None
            dt = time.perf_counter() - t0
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        p.returncode = rc = os.waitstatus_to_exitcode(status)
        LAST_CPU[0] = ru.ru_utime + ru.ru_stime
        if rc != 0:
            err.seek(0)
            msg = err.read().decode(errors="replace").strip()[-400:]
            raise Failure(f"exit {rc}: {shlex.join(argv)}: {msg}")
    return dt


def output(argv: list[str], cwd: str | None = None, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60, env=env)


def importtime_prefix(argv: list[str], python: str) -> tuple[list[str], list[str]]:
    """How to run the CLI under ``-X importtime`` exactly as it is deployed.

    A console script runs with its shebang's interpreter and flags (e.g.
    ``#!/usr/bin/python3.11 -IS``): reuse them.  ``python -m runcgo`` style
    commands keep their interpreter.  Anything else: ``--python -m runcgo``.
    """
    if len(argv) == 1 and os.path.isfile(argv[0]):
        with open(argv[0], "rb") as f:
            first = f.readline().decode(errors="replace")
        if first.startswith("#!") and "python" in first:
            return shlex.split(first[2:].strip()), [argv[0]]
    if argv and "python" in os.path.basename(argv[0]):
        i = 1
        while i < len(argv) and argv[i].startswith("-") and argv[i] != "-m":
            i += 1
        return argv[:i], argv[i:]
    return [python], ["-m", "runcgo"]


def describe_launcher(argv: list[str]) -> dict[str, str]:
    """Which runcgo launcher a command is, and the interpreter and flags it starts.

    ``runcgo.launcher``: the ``-I -S`` launcher that scripts/bootstrap.sh or a pip-installed
    runcgo's first run writes (runcgo/launcher.py), and which of them wrote it; ``pip-generic``: the script
    pip installed, before its first run replaced it; ``pip entry point``: an older install's
    wrapper (site + re); ``python -m``: a worktree's code through an interpreter.
    """
    path = os.path.realpath(argv[0]) if argv else ""
    if len(argv) == 1 and os.path.isfile(path):
        with open(path, "rb") as f:
            head = f.read(2048).decode(errors="replace")
        first = head.split("\n", 1)[0]
        interp = first[2:].strip() if first.startswith("#!") else "(binary)"
        if "# Written by runcgo.launcher" in head:
            via = next((line.split(":", 1)[1].strip() for line in head.splitlines()
                        if line.startswith("# Written by:")), "?")
            kind = f"runcgo.launcher (-I -S), written by {via}"
        elif "# Written by scripts/bootstrap.sh" in head:
            kind = "bootstrap.sh (-I -S, older)"
        elif "# runcgo: generic console script" in head:
            kind = "pip-generic (site; replaced on its first run)"
        elif "re.sub(" in head:
            kind = "pip entry point (site + re)"
        else:
            kind = "other"
        if interp.split() and os.path.exists(interp.split()[0]):
            interp = f"{interp} -> {os.path.realpath(interp.split()[0])}"
        return {"launcher": kind, "path": path, "interpreter": interp}
    return {"launcher": "command line", "path": shlex.join(argv),
            "interpreter": os.path.realpath(shutil.which(argv[0]) or argv[0]) if argv else "?"}


def describe_bundle(cfg: dict[str, Any]) -> str:
    """The bundle config in one line (what a reader needs to compare runs)."""
    lx = cfg.get("linux", {})
    proc = cfg.get("process", {})
    ns = ",".join(n["type"] for n in lx.get("namespaces", []))
    return (f"runc's default spec (ociVersion {cfg.get('ociVersion')}); namespaces {ns}; "
            f"seccomp {'yes' if lx.get('seccomp') else 'no'}; noNewPrivileges "
            f"{proc.get('noNewPrivileges', False)}; rootfs busybox-static, readonly "
            f"{cfg.get('root', {}).get('readonly')}; cgroupsPath /runcgo-bench-PID/RT-OP")


def pctl(xs: list[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(xs: list[float]) -> dict[str, Any]:
    if not xs:
        return {"n": 0}
    return {"n": len(xs), "median": statistics.median(xs), "p90": pctl(xs, 0.9),
            "min": min(xs), "max": max(xs), "samples": xs}


# ---------------------------------------------------------------- host state

def cgroup_dirs(prefix: str) -> list[str]:
    out = []
    for ctrl in sorted(os.listdir(CGROOT)):
        d = os.path.join(CGROOT, ctrl, prefix.lstrip("/"))
        if os.path.isdir(d):
            out.append(d)
    return out


def cgroup_pids(path: str) -> set[int]:
    pids: set[int] = set()
    for d in cgroup_dirs(path):
        for dirpath, _dirs, files in os.walk(d):
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError), open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids.update(int(x) for x in f.read().split())
    return pids


def remove_cgroups(prefix: str) -> list[str]:
    """Kill what is left in our cgroups and rmdir them bottom-up; returns leftovers."""
    for _ in range(50):
        pids = cgroup_pids(prefix)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
    left = []
    for d in cgroup_dirs(prefix):
        for dirpath, _dirs, _files in sorted(os.walk(d), key=lambda t: -len(t[0])):
            for _ in range(20):
                try:
                    os.rmdir(dirpath)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
            else:
                left.append(dirpath)
    return left


def cgroup_fs_type() -> str:
    return output(["stat", "-f", "-c", "%T", CGROOT]).stdout.strip()


def loadavg() -> list[str]:
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def pss_kb(pid: int) -> tuple[int, int]:
    pss = rss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
    return pss, rss


def proc_comm(pid: int) -> str:
    """cmdline and, where it is not the first word, the executable (runcgo's waiting init
    carries the user's argv but runs /memfd:runcgo-wait)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            text = f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:80]
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return "?"
    return f"{text} (exe {exe})" if exe.startswith("/memfd:") else text


def pid_exited(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


# ---------------------------------------------------------------- the bench

class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.n = args.n
        self.tag = f"runcgo-bench-{os.getpid()}"
        self.work = tempfile.mkdtemp(prefix=f"{self.tag}-")
        self.rootfs = os.path.join(self.work, "rootfs")
        self.results: dict[str, dict[str, list[float]]] = {}
        self.errors: list[str] = []
        self.extra: dict[str, Any] = {}
        self.runtimes: list[Runtime] = []
        self.live: list[tuple[Runtime, str]] = []
        self.seq = 0

    # setup ---------------------------------------------------------------
    def setup(self) -> None:
        import bundles

        a = self.args
        runcgo = shlex.split(a.runcgo) if a.runcgo else (
            shlex.split(os.environ["RUNCGO_CLI"]) if os.environ.get("RUNCGO_CLI")
            else [os.path.join(os.path.dirname(sys.executable), "runcgo")])
        self.runtimes.append(Runtime("runcgo", runcgo, os.path.join(self.work, "state-runcgo")))
        self.extra["runcgo_launcher"] = describe_launcher(runcgo)
        if a.runc and shutil.which(a.runc):
            self.runtimes.append(Runtime("runc", [a.runc], os.path.join(self.work, "state-runc")))
        else:
            self.errors.append(f"runc not found ({a.runc}): skipped")
        w = write_crun_wrapper(self.work, a.crun)
        if w:
            self.runtimes.append(Runtime("crun", [w], os.path.join(self.work, "state-crun")))
        else:
            self.errors.append(f"crun not found ({a.crun}): skipped")
        bundles.make_rootfs(self.rootfs)
        line = b"runcgo pty throughput bench: the quick brown fox jumps over the lazy dog 0123456789\n"
        size = a.pty_mib * 1024 * 1024
        with open(os.path.join(self.rootfs, "data.bin"), "wb") as f:
            chunk = line * (1024 * 1024 // len(line) + 1)
            left = size
            while left > 0:
                f.write(chunk[:left])
                left -= min(left, len(chunk))
        self.pty_bytes = size
        self.cfg = bundles.default_config()
        # crun 1.8.1 rejects ociVersion 1.3.0 ("unknown version specified").
        self.cfg["ociVersion"] = "1.0.2-dev"
        self.cfg["root"] = {"path": self.rootfs, "readonly": True}
        self.extra["bundle"] = describe_bundle(self.cfg)

    def bundle(self, rt: Runtime, kind: str, args: list[str], terminal: bool = False) -> str:
        d = os.path.join(self.work, f"b-{rt.name}-{kind}")
        if not os.path.isdir(d):
            os.makedirs(d)
            cfg = json.loads(json.dumps(self.cfg))
            cfg["process"]["args"] = args
            cfg["process"]["terminal"] = terminal
            cfg["linux"]["cgroupsPath"] = f"/{self.tag}/{rt.name}-{kind}"
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(cfg, f, indent=1)
        return d

    def cid(self, rt: Runtime, kind: str) -> str:
        self.seq += 1
        return f"{self.tag}-{rt.name}-{kind}-{self.seq}"

    def record(self, metric: str, rt: Runtime, value: float) -> None:
        self.results.setdefault(metric, {}).setdefault(rt.name, []).append(value)

    def order(self, i: int) -> list[Runtime]:
        k = i % len(self.runtimes)
        return self.runtimes[k:] + self.runtimes[:k]

    def attempt(self, what: str, rt: Runtime, fn: Any) -> Any:
        try:
            return fn()
        except (Failure, OSError, ValueError, KeyError) as e:
            msg = f"{what} [{rt.name}]: {e}"
            if msg not in self.errors:
                self.errors.append(msg)
            print(f"  ! {msg}", file=sys.stderr)
            return None

    def state(self, rt: Runtime, cid: str) -> dict[str, Any]:
        p = output(rt.cmd("state", cid))
        if p.returncode != 0:
            raise Failure(f"state {cid}: {p.stderr.strip()}")
        return dict(json.loads(p.stdout))

    def create(self, rt: Runtime, kind: str, args: list[str], start: bool = False) -> str:
        b = self.bundle(rt, kind, args)
        cid = self.cid(rt, kind)
        spawn_timed(rt.cmd("create", "--bundle", b, cid), cwd=b)
        self.live.append((rt, cid))
        if start:
            spawn_timed(rt.cmd("start", cid))
        return cid

    def delete(self, rt: Runtime, cid: str) -> None:
        with contextlib.suppress(Failure):
            spawn_timed(rt.cmd("delete", "--force", cid))
        with contextlib.suppress(ValueError):
            self.live.remove((rt, cid))

    # measurements --------------------------------------------------------
    def baselines(self) -> None:
        py = self.args.python
        for _ in range(self.n):
            for name, argv in (("ref: /bin/true (spawn floor)", ["/bin/true"]),
                               ("ref: python -I -S -c pass", [py, "-I", "-S", "-c", "pass"]),
                               ("ref: python -c pass", [py, "-c", "pass"])):
                self.results.setdefault(name, {}).setdefault("runcgo", []).append(
                    spawn_timed(argv))

    def m_version(self, i: int) -> None:
        for rt in self.order(i):
            dt = self.attempt("--version", rt, lambda rt=rt: spawn_timed([*rt.argv, "--version"]))
            if dt is not None:
                self.record("--version", rt, dt)

    def m_run(self, i: int) -> None:
        for rt in self.order(i):
            b = self.bundle(rt, "run", ["true"])
            cid = self.cid(rt, "run")
            dt = self.attempt("run true", rt,
                              lambda rt=rt, b=b, cid=cid: spawn_timed(rt.cmd("run", "--bundle", b, cid),
                                                                      cwd=b))
            if dt is not None:
                self.record("run true", rt, dt)
                self.record("run true: CPU user+sys", rt, LAST_CPU[0])
            if os.path.isdir(os.path.join(rt.root, cid)):
                self.errors.append(f"run [{rt.name}] left state {cid} behind")
                self.delete(rt, cid)

    def m_csd(self, i: int) -> None:
        for rt in self.order(i):
            b = self.bundle(rt, "csd", ["true"])
            cid = self.cid(rt, "csd")

            def one(rt: Runtime = rt, b: str = b, cid: str = cid) -> None:
                t_create = spawn_timed(rt.cmd("create", "--bundle", b, cid), cwd=b)
                cpu = LAST_CPU[0]
                self.live.append((rt, cid))
                pid = int(self.state(rt, cid)["pid"])
                # memory of the created-but-not-started container: every process in
                # its cgroup (the runtime's init), plus the state pid.
                pids = cgroup_pids(f"/{self.tag}/{rt.name}-csd") | {pid}
                pss = rss = 0
                for p in pids:
                    with contextlib.suppress(OSError):
                        a, r = pss_kb(p)
                        pss += a
                        rss += r
                if i == 0:
                    self.extra.setdefault("created_processes", {})[rt.name] = [
                        proc_comm(p) for p in sorted(pids)]
                t_start = spawn_timed(rt.cmd("start", cid))
                cpu += LAST_CPU[0]
                deadline = time.monotonic() + 2
                while not pid_exited(pid) and time.monotonic() < deadline:
                    time.sleep(0.001)
                t_delete = spawn_timed(rt.cmd("delete", cid))
                cpu += LAST_CPU[0]
                self.live.remove((rt, cid))
                self.record("create", rt, t_create)
                self.record("start", rt, t_start)
                self.record("delete", rt, t_delete)
                self.record("create+start+delete", rt, t_create + t_start + t_delete)
                self.record("c+s+d: CPU user+sys", rt, cpu)
                self.record("PSS created (KiB)", rt, pss)
                self.record("RSS created (KiB)", rt, rss)

            if self.attempt("create+start+delete", rt, one) is None and (rt, cid) in self.live:
                self.delete(rt, cid)

    def m_state(self, i: int, created: dict[str, str]) -> None:
        for rt in self.order(i):
            if rt.name in created:
                cid = created[rt.name]
                dt = self.attempt("state", rt, lambda rt=rt, cid=cid: spawn_timed(rt.cmd("state", cid)))
                if dt is not None:
                    self.record("state (created)", rt, dt)

    def m_exec(self, i: int, running: dict[str, str]) -> None:
        for rt in self.order(i):
            if rt.name in running:
                cid = running[rt.name]
                dt = self.attempt("exec true", rt,
                                  lambda rt=rt, cid=cid: spawn_timed(rt.cmd("exec", cid, "true")))
                if dt is not None:
                    self.record("exec true", rt, dt)

    def pty_run(self, rt: Runtime) -> float:
        b = self.bundle(rt, "pty", ["cat", "/data.bin"], terminal=True)
        cid = self.cid(rt, "pty")
        argv = rt.cmd("run", "--bundle", b, cid)
        t0 = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:  # child: the outer pty's slave is our controlling terminal
            try:
                os.chdir(b)
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        got = 0
        tail = b""
        deadline = time.monotonic() + self.args.pty_timeout
        try:
            while True:
                r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
                if not r:
                    raise Failure(f"pty run timed out after {got} bytes")
                try:
                    data = os.read(fd, 1 << 16)
                except OSError:  # EIO: every slave fd closed
                    break
                if not data:
                    break
                got += len(data)
                tail = (tail + data)[-300:]
        finally:
            if time.monotonic() >= deadline:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            os.close(fd)
        dt = time.perf_counter() - t0
        rc = os.waitstatus_to_exitcode(status)
        if os.path.isdir(os.path.join(rt.root, cid)):
            self.delete(rt, cid)
        if rc != 0:
            raise Failure(f"exit {rc}: {tail.decode(errors='replace')[-200:]!r}")
        # the container pty turns \n into \r\n, so a little more than the file arrives
        if got < self.pty_bytes:
            raise Failure(f"only {got} of {self.pty_bytes} bytes arrived")
        return dt

    def m_pty(self, i: int) -> None:
        for rt in self.order(i):
            dt = self.attempt("run -t cat", rt, lambda rt=rt: self.pty_run(rt))
            if dt is not None:
                self.record("run -t cat (MiB/s)", rt, self.pty_bytes / (1 << 20) / dt)

    def importtime(self) -> None:
        """`python -X importtime -m runcgo CMD` for each lifecycle command, real calls."""
        rt = self.runtimes[0]
        interp, script = importtime_prefix(rt.argv, self.args.python)
        self.extra["importtime_command"] = shlex.join([*interp, "-X", "importtime", *script])
        pre = [*interp, "-X", "importtime", *script, "--root", rt.root]
        env = dict(os.environ)
        if self.args.pythonpath:
            env["PYTHONPATH"] = self.args.pythonpath
        b = self.bundle(rt, "imp", ["sleep", "1000000"])
        runs: dict[str, list[tuple[float, list[tuple[str, int, int]]]]] = {}

        def parse(stderr: str) -> tuple[float, list[tuple[str, int, int]]]:
            mods = []
            for line in stderr.splitlines():
                m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
                if m:
                    mods.append((m.group(4), int(m.group(1)), int(m.group(2))))
            return sum(s for _, s, _ in mods) / 1000, mods

        def call(name: str, *args: str) -> None:
            p = subprocess.run([*pre, *args], cwd=b, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=env, timeout=60) if name != "create" else None
            if p is None:  # create: the init inherits stderr -> use a file, not a pipe
                with tempfile.TemporaryFile("w+") as err:
                    q = subprocess.run([*pre, *args], cwd=b, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=err, env=env, timeout=60)
                    err.seek(0)
                    p = subprocess.CompletedProcess(q.args, q.returncode, None, err.read())
            if p.returncode != 0:
                raise Failure(f"{name}: exit {p.returncode}: "
                              f"{[x for x in p.stderr.splitlines() if 'import time' not in x][-3:]}")
            runs.setdefault(name, []).append(parse(p.stderr))

        base = []
        for _ in range(self.args.import_runs):
            p = subprocess.run([*interp, "-X", "importtime", "-c", "pass"], capture_output=True,
                               text=True, env=env)
            base.append(parse(p.stderr)[0])
            cid = self.cid(rt, "imp")
            try:
                call("--version", "--version")
                call("create", "create", "--bundle", b, cid)
                self.live.append((rt, cid))
                call("state", "state", cid)
                call("start", "start", cid)
                call("kill", "kill", cid, "9")
                pid = int(self.state(rt, cid)["pid"])
                deadline = time.monotonic() + 2
                while not pid_exited(pid) and time.monotonic() < deadline:
                    time.sleep(0.002)
                time.sleep(0.01)
                call("delete", "delete", cid)
                self.live.remove((rt, cid))
            except (Failure, OSError, ValueError, KeyError) as e:
                self.errors.append(f"importtime [{rt.name}]: {e}")
                print(f"  ! importtime: {e}", file=sys.stderr)
                if (rt, cid) in self.live:
                    self.delete(rt, cid)
                break
        out: dict[str, Any] = {"startup only (-c pass)": {"median_ms": statistics.median(base) if base else None}}
        for name, rs in runs.items():
            totals = [t for t, _ in rs]
            # per module: median self / cumulative time over the runs (one run is noisy)
            selfs: dict[str, list[int]] = {}
            cums: dict[str, list[int]] = {}
            for _, mods in rs:
                for m, s_us, c_us in mods:
                    selfs.setdefault(m, []).append(s_us)
                    cums.setdefault(m, []).append(c_us)
            agg = [(m, statistics.median(selfs[m]) / 1000, statistics.median(cums[m]) / 1000)
                   for m in selfs]
            top = sorted(agg, key=lambda t: -t[1])[:10]
            tops = sorted((t for t in agg if not t[0].startswith("encodings")),
                          key=lambda t: -t[2])[:10]
            out[name] = {"median_ms": statistics.median(totals), "samples_ms": totals,
                         "n_modules": len(agg),
                         "top_self": [{"module": m, "self_ms": a, "cum_ms": c} for m, a, c in top],
                         "top_cumulative": [{"module": m, "self_ms": a, "cum_ms": c}
                                            for m, a, c in tops]}
        self.extra["importtime"] = out

    # driver --------------------------------------------------------------
    def run(self) -> None:
        a = self.args
        print(f"# runtimes: {', '.join(f'{r.name}={shlex.join(r.argv)}' for r in self.runtimes)}",
              file=sys.stderr)
        print(f"# N={self.n}, work dir {self.work}, cgroups /{self.tag}", file=sys.stderr)
        self.extra["loadavg_before"] = loadavg()
        t0 = time.monotonic()
        # long-lived containers: one created (state, memory) and one running (exec)
        created: dict[str, str] = {}
        running: dict[str, str] = {}
        for rt in self.runtimes:
            cid = self.attempt("create (for state)", rt,
                               lambda rt=rt: self.create(rt, "created", ["true"]))
            if cid:
                created[rt.name] = cid
            cid = self.attempt("create+start sleep (for exec)", rt,
                               lambda rt=rt: self.create(rt, "sleep", ["sleep", "1000000"], start=True))
            if cid:
                running[rt.name] = cid
        for i in range(self.n):
            print(f"# round {i + 1}/{self.n}", file=sys.stderr)
            self.m_version(i)
            self.m_run(i)
            self.m_csd(i)
            self.m_state(i, created)
            self.m_exec(i, running)
        for rt in self.runtimes:
            for cid in (created.get(rt.name), running.get(rt.name)):
                if cid:
                    self.delete(rt, cid)
        for i in range(a.pty_runs):
            print(f"# pty round {i + 1}/{a.pty_runs}", file=sys.stderr)
            self.m_pty(i)
        if not a.no_baseline:
            self.baselines()
        if not a.no_importtime and self.runtimes[0].name == "runcgo":
            print("# import time", file=sys.stderr)
            self.importtime()
        self.extra["loadavg_after"] = loadavg()
        self.extra["wall_s"] = time.monotonic() - t0

    def cleanup(self) -> None:
        for rt, cid in list(self.live):
            self.delete(rt, cid)
        for rt in self.runtimes:
            with contextlib.suppress(OSError):
                for cid in os.listdir(rt.root):
                    self.errors.append(f"cleanup [{rt.name}]: {cid} still in state dir")
                    self.delete(rt, cid)
        left = remove_cgroups(f"/{self.tag}")
        if left:
            self.errors.append(f"cleanup: cgroups left: {left}")
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4]
                if mp.startswith(self.work):
                    self.errors.append(f"cleanup: mount left at {mp}")
                    subprocess.run(["umount", "-l", mp], check=False)
        shutil.rmtree(self.work, ignore_errors=True)

    # report --------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        names = [r.name for r in self.runtimes]
        self.extra["runcgo_launcher_at_end"] = describe_launcher(self.runtimes[0].argv)
        rows: dict[str, Any] = {}
        for metric, per in self.results.items():
            rows[metric] = {rt: summary(v) for rt, v in per.items()}
        out = {"meta": {"n": self.n, "pty_runs": self.args.pty_runs, "pty_mib": self.args.pty_mib,
                        "runtimes": {r.name: shlex.join(r.argv) for r in self.runtimes},
                        "python": self.args.python, "argv": sys.argv,
                        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "nproc": os.cpu_count()},
               "results": rows, **self.extra, "errors": self.errors}
        self.print_table(names, rows)
        return out

    def print_table(self, names: list[str], rows: dict[str, Any]) -> None:
        def fmt(metric: str, s: dict[str, Any], key: str) -> str:
            if not s or s.get("n", 0) == 0:
                return "-"
            v = s[key]
            if "KiB" in metric:
                return f"{v / 1024:.1f}M" if v >= 1024 else f"{v:.0f}K"
            if "MiB/s" in metric:
                return f"{v:.1f}"
            return f"{v * 1000:.1f}"

        lau = self.extra.get("runcgo_launcher", {})
        end = self.extra.get("runcgo_launcher_at_end", {})
        kind = lau.get("launcher")
        if end and end.get("launcher") != kind:  # a pip script that replaced itself
            kind = f"{kind}, then {end.get('launcher')}"
        print(f"\nruncgo launcher: {kind}: {lau.get('path')}")
        print(f"runcgo interpreter: {lau.get('interpreter')}")
        print(f"bundle: {self.extra.get('bundle')}")
        print(f"machine: {os.cpu_count()} cores, {os.uname().release}; "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        hdr = f"{'metric (ms unless noted)':<30}" + "".join(f"{n + ' med':>12}{'p90':>8}" for n in names)
        others = [n for n in ("runc", "crun") if n in names]
        hdr += "".join(f"{'÷' + n:>8}" for n in others)
        print(hdr)
        print("-" * len(hdr))
        for metric, per in rows.items():
            line = f"{metric:<30}"
            for n in names:
                s = per.get(n, {})
                line += f"{fmt(metric, s, 'median'):>12}{fmt(metric, s, 'p90'):>8}"
            me = per.get("runcgo", {})
            for o in others:
                s = per.get(o, {})
                if me.get("n") and s.get("n") and s["median"]:
                    q = me["median"] / s["median"]
                    line += f"{q:>7.2f}x" if q >= 0.1 else f"{q:>7.3f}x"
                else:
                    line += f"{'':>8}"
            print(line)
        it = self.extra.get("importtime")
        if it:
            print(f"\nimport time, runcgo ({self.extra.get('importtime_command')} CMD; "
                  "sum of self times, median)")
            for cmd, d in it.items():
                if d.get("median_ms") is None:
                    continue
                line = f"  {cmd:<34}{d['median_ms']:7.1f} ms"
                if "n_modules" in d:
                    line += f"  ({d['n_modules']} modules)"
                print(line)
            for cmd in ("create", "start"):
                if cmd in it:
                    print(f"  top 10 by self time, {cmd} (per-module medians):")
                    for m in it[cmd]["top_self"]:
                        print(f"    {m['self_ms']:6.2f} ms self {m['cum_ms']:7.2f} cum  {m['module']}")
            if "delete" in it:
                print("  top 10 by cumulative time, delete:")
                for m in it["delete"]["top_cumulative"]:
                    print(f"    {m['cum_ms']:7.2f} ms cum  {m['module']}")
        cp = self.extra.get("created_processes")
        if cp:
            print("\ncreated-container processes measured for PSS:")
            for rt, procs in cp.items():
                print(f"  {rt}: {procs}")
        print(f"\nloadavg before {self.extra.get('loadavg_before')} after "
              f"{self.extra.get('loadavg_after')}; wall {self.extra.get('wall_s', 0):.0f} s")
        if self.errors:
            print("\nerrors:")
            for e in self.errors:
                print(f"  {e}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=20, help="rounds per measurement (default 20)")
    ap.add_argument("--quick", action="store_true", help="CI smoke: N=3, 8 MiB PTY file, 1 PTY run")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    ap.add_argument("--runcgo", help="runcgo command (default $RUNCGO_CLI, else runcgo next to "
                    "this interpreter)")
    ap.add_argument("--runc", default="/usr/sbin/runc")
    ap.add_argument("--crun", default="/usr/bin/crun", help="crun binary ('' to skip)")
    ap.add_argument("--python", default=sys.executable, help="interpreter for -X importtime")
    ap.add_argument("--pythonpath", help="PYTHONPATH for the importtime runs (a worktree)")
    ap.add_argument("--pty-mib", type=int, default=64)
    ap.add_argument("--pty-runs", type=int, default=5)
    ap.add_argument("--pty-timeout", type=float, default=120)
    ap.add_argument("--import-runs", type=int, default=7)
    ap.add_argument("--no-importtime", action="store_true")
    ap.add_argument("--no-baseline", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.n, a.pty_mib, a.pty_runs, a.import_runs = 3, 8, 1, 2
    if os.geteuid() != 0:
        print("bench.py needs root", file=sys.stderr)
        return 2
    fs_before = cgroup_fs_type()
    b = Bench(a)
    try:
        b.setup()
        b.run()
    finally:
        b.cleanup()
    fs_after = cgroup_fs_type()
    if fs_after != fs_before:
        b.errors.append(f"HOST BROKEN: /sys/fs/cgroup was {fs_before}, now {fs_after}")
    out = b.report()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    runcgo_failed = [e for e in b.errors if "[runcgo]" in e or "HOST" in e or "cleanup" in e]
    return 1 if runcgo_failed else 0


if __name__ == "__main__":
    sys.exit(main())
