#!/usr/bin/env python3
"""Where the time of one runcgo call goes: interpreter start, imports, work, teardown.

    sudo .venv/bin/python tests/bench/phases.py            # run, create, state; N=20
    sudo .venv/bin/python tests/bench/phases.py -n 10 run

The script runs the CLI in-process through a small launcher under
``python -I -S``, with the same sys.path as the console script. The
launcher timestamps (CLOCK_MONOTONIC, shared with the parent) the first
line of the launcher, the end of the imports, the end of ``cli.main``,
and the atexit hook. The parent timestamps the spawn and the reap. When
runcgo's internals still have these names, the steps of ``create`` are
wrapped too: ``spec.load_config``, ``ops.create._Conversation.run`` (waiting for
the init), ``selfjoin.fork_joined`` and ``V1Manager.create``/``set``/``apply``.
``runc run`` is interleaved as a reference. Stdlib only; cleans up after itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

LAUNCHER = r'''
import time
_T = [("interpreter start", time.perf_counter())]
import sys, os  # not json: the stdlib one imports re, which runcgo itself never does
sys.path[:0] = os.environ["PH_PATH"].split("\x1f")
_cmd = os.environ["PH_ARGV"].split("\x1f")
import runcgo.cli as _cli
_mods = {"run": "runcgo.ops.run", "create": "runcgo.ops.create", "state": "runcgo.ops.query",
         "start": "runcgo.ops.start", "delete": "runcgo.ops.delete", "kill": "runcgo.ops.kill",
         "exec": "runcgo.ops.exec"}
_verb = next((a for a in _cmd if a in _mods), None)
if _verb:
    __import__(_mods[_verb])
_T.append(("imports (cli + op module)", time.perf_counter()))
_acc = {}
def _wrap(obj, name, label):
    f = getattr(obj, name, None)
    if f is None:
        return
    def w(*a, **k):
        t = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            _acc[label] = _acc.get(label, 0.0) + time.perf_counter() - t
    setattr(obj, name, w)
if _verb in ("run", "create"):
    try:
        import runcgo.spec as _S, runcgo.ops.create as _C
        _wrap(_S, "load_config", "  load_config (decode + validate)")
        _conv = getattr(_C, "_Conversation", None)
        if _conv is not None:
            _wrap(_conv, "run", "  wait for the init to be ready")
        from runcgo.kernel.cgroups import v1 as _v1, selfjoin as _sj
        _wrap(_sj, "fork_joined", "  clone3 (into cgroup + namespaces)")
        _m = getattr(_v1, "V1Manager", None)
        if _m is not None:
            _wrap(_m, "create", "  cgroup v1 mkdir")
            _wrap(_m, "set", "  cgroup v1 resources (devices)")
            _wrap(_m, "apply", "  cgroup v1 apply (fallback: cgroup.procs)")
    except Exception:
        pass
def _done():
    _T.append(("atexit", time.perf_counter()))
    import json
    with open(os.environ["PH_OUT"], "a") as f:
        f.write(json.dumps({"marks": _T, "acc": _acc}) + "\n")
import atexit
atexit.register(_done)
try:
    _rc = _cli.main(_cmd)
finally:
    _T.append(("cli.main", time.perf_counter()))
if os.environ.get("PH_OS_EXIT"):
    sys.stdout.flush(); sys.stderr.flush(); _done(); os._exit(_rc or 0)
sys.exit(_rc)
'''


def timed(argv: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> tuple[float, float]:
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, _ = os.wait4(p.pid, 0)
    t1 = time.perf_counter()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {argv}")
    return t0, t1


def script_path() -> list[str] | None:
    """The sys.path a generated console script sets (``sys.path[:0] = [...]``), if any."""
    import ast

    try:
        with open(os.path.join(os.path.dirname(sys.executable), "runcgo")) as f:
            for line in f:
                if line.startswith("sys.path[:0] = "):
                    return list(ast.literal_eval(line.split("=", 1)[1].strip()))
    except (OSError, ValueError, SyntaxError):
        pass
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("commands", nargs="*", help="run, create, state (default: all three)")
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--python", default="/usr/bin/python3.11",
                    help="interpreter for the launcher (run with -I -S)")
    ap.add_argument("--path", action="append",
                    help="sys.path entries (default: this repo + the venv's site-packages)")
    ap.add_argument("--os-exit", action="store_true",
                    help="end with os._exit after flushing (shows what teardown costs)")
    a = ap.parse_args()
    a.commands = a.commands or ["run", "create", "state"]
    if set(a.commands) - {"run", "create", "state"}:
        ap.error("commands: run, create, state")
    sys.path.insert(0, os.path.join(REPO, "tests"))
    sys.path.insert(0, REPO)
    import sysconfig

    import bundles

    paths = a.path or script_path() or [REPO, sysconfig.get_paths()["purelib"]]
    print(f"sys.path for the launcher: {paths}")
    work = tempfile.mkdtemp(prefix="runcgo-phases-")
    tag = f"runcgo-bench-ph{os.getpid()}"
    runcgo_root, runc_root = os.path.join(work, "s1"), os.path.join(work, "s2")
    try:
        # one bundle per runtime: never share a cgroup (runc's delete kills what is in it)
        bundle, runc_bundle = os.path.join(work, "b"), os.path.join(work, "b-runc")
        bundles.make_bundle(bundle, ["true"])
        with open(os.path.join(bundle, "config.json")) as f:
            cfg = json.load(f)
        cfg["ociVersion"] = "1.0.2-dev"
        cfg["root"] = {"path": os.path.join(bundle, "rootfs"), "readonly": True}
        for b, sub in ((bundle, "x"), (runc_bundle, "runc")):
            os.makedirs(b, exist_ok=True)
            cfg["linux"]["cgroupsPath"] = f"/{tag}/{sub}"
            with open(os.path.join(b, "config.json"), "w") as f:
                json.dump(cfg, f)
        launcher = os.path.join(work, "launch.py")
        with open(launcher, "w") as f:
            f.write(LAUNCHER)
        cli = [os.path.join(os.path.dirname(sys.executable), "runcgo")]
        for cmd in a.commands:
            out = os.path.join(work, f"{cmd}.jsonl")
            state_id = None
            if cmd == "state":
                state_id = "ph-state"
                timed([*cli, "--root", runcgo_root, "create", "--bundle", bundle, state_id])
            ph: dict[str, list[float]] = {}
            runc: list[float] = []
            for i in range(a.n):
                cid = f"ph-{cmd}-{i}"
                argv = {"run": ["--root", runcgo_root, "run", "--bundle", bundle, cid],
                        "create": ["--root", runcgo_root, "create", "--bundle", bundle, cid],
                        "state": ["--root", runcgo_root, "state", str(state_id)]}[cmd]
                env = dict(os.environ, PH_PATH="\x1f".join(paths), PH_ARGV="\x1f".join(argv),
                           PH_OUT=out)
                if a.os_exit:
                    env["PH_OS_EXIT"] = "1"
                t0, t1 = timed([a.python, "-I", "-S", launcher], env=env)
                with open(out) as f:
                    rec = json.loads(f.readlines()[-1])
                prev = t0
                for name, t in rec["marks"]:
                    ph.setdefault(f"-> {name}", []).append(t - prev)
                    prev = t
                ph.setdefault("-> process exit (interpreter teardown)", []).append(t1 - prev)
                ph.setdefault("TOTAL (spawn to reap)", []).append(t1 - t0)
                for k, v in rec["acc"].items():
                    ph.setdefault(k, []).append(v)
                if cmd == "create":
                    timed([*cli, "--root", runcgo_root, "delete", "--force", cid])
                r0, r1 = timed(["runc", "--root", runc_root, "run", "--bundle", runc_bundle,
                                f"r{cid}"], cwd=runc_bundle)
                runc.append(r1 - r0)
            print(f"\nruncgo {cmd} (N={a.n}, medians, launcher: {a.python} -I -S"
                  f"{', os._exit' if a.os_exit else ''})")
            for k, v in ph.items():
                print(f"  {k:<48} {statistics.median(v) * 1000:7.1f} ms")
            print(f"  {'runc run true, interleaved (reference)':<48} "
                  f"{statistics.median(runc) * 1000:7.1f} ms")
            if state_id:
                timed([*cli, "--root", runcgo_root, "delete", "--force", state_id])
    finally:
        for root, rt in ((runcgo_root, [os.path.join(os.path.dirname(sys.executable), "runcgo")]),
                         (runc_root, ["runc"])):
            if os.path.isdir(root):
                for cid in os.listdir(root):
                    subprocess.run([*rt, "--root", root, "delete", "--force", cid], check=False)
        for ctrl in os.listdir("/sys/fs/cgroup"):
            d = os.path.join("/sys/fs/cgroup", ctrl, tag)
            for sub in (os.path.join(d, "x"), os.path.join(d, "runc"), d):
                if os.path.isdir(sub):
                    try:
                        os.rmdir(sub)
                    except OSError as e:
                        print(f"cleanup: {sub}: {e}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
