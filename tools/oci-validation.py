#!/usr/bin/env python3
"""Run the OCI validation suite (opencontainers/runtime-tools) against a runtime.

Our own harness (stdlib only).  It runs each ``validation/<name>/<name>.t`` from a
built runtime-tools checkout, as root, with ``RUNTIME=<path>``, under a per-test
timeout, counts TAP ``ok`` / ``not ok`` lines, prints a table and totals, and can
write the results as JSON or compare two JSON results side by side.

Host safety:
  * ``linux_ns_itype`` always runs last: it starts a container with no namespaces
    at all, so the runtime does its rootfs setup in the host mount namespace.
  * ``stat -f -c %T /sys/fs/cgroup`` is checked before the run, after every test
    and after the run; if it stops printing ``tmpfs`` a loud warning names the test
    after which it changed.  Nothing is repaired.
  * Every test gets TMPDIR inside one run directory (``/tmp/oci-validation-*``), so
    everything the suite creates (bundles, pid files) is under a known prefix.
    Mounts, cgroup directories and runtime containers that appear during the run are
    reported.  ``--cleanup-mounts`` unmounts leftover mounts *under that run
    directory only*; nothing else is ever unmounted.

Examples:
  oci-validation.py --suite-dir /work/rt/runtime-tools --runtime /usr/sbin/runc \\
      --json /work/rt/runc-baseline.json
  oci-validation.py --suite-dir ... --runtime /usr/local/bin/runcgo --only create,state \\
      --compare /work/rt/runc-baseline.json
  oci-validation.py --compare /work/rt/runc-baseline.json runcgo.json
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAST_TESTS = ("linux_ns_itype",)  # runs a container with no namespaces: keep last
NOT_TESTS = {"util"}
CGROUP_ROOT = "/sys/fs/cgroup"
TAP_RE = re.compile(r"^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*)$")
DIRECTIVE_RE = re.compile(r"#\s*(skip|todo)\b", re.IGNORECASE)
PLAN_RE = re.compile(r"^1\.\.(\d+)")


# --------------------------------------------------------------------------- host probes


def cgroup_fs_type() -> str:
    """What `stat -f -c %T /sys/fs/cgroup` prints (the brief's exact check)."""
    try:
        out = subprocess.run(
            ["stat", "-f", "-c", "%T", CGROUP_ROOT],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout.strip() or f"<stat failed: {out.stderr.strip()}>"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"<stat failed: {exc}>"


def _unescape_mountinfo(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def read_mounts() -> dict[str, dict[str, str]]:
    """Mount id -> {mountpoint, fstype, source} from the harness's (host) mountinfo."""
    mounts: dict[str, dict[str, str]] = {}
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            rfields = right.split()
            if len(fields) < 5:
                continue
            mounts[fields[0]] = {
                "mountpoint": _unescape_mountinfo(fields[4]),
                "fstype": rfields[0] if rfields else "?",
                "source": _unescape_mountinfo(rfields[1]) if len(rfields) > 1 else "?",
            }
    return mounts


def cgroup_dirs() -> set[str]:
    """Top-level directories of every cgroup hierarchy (to spot leftovers)."""
    found: set[str] = set()
    try:
        hierarchies = [e for e in os.scandir(CGROUP_ROOT) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return found
    for h in hierarchies:
        try:
            for e in os.scandir(h.path):
                if e.is_dir(follow_symlinks=False):
                    found.add(e.path)
        except OSError:
            pass
    return found


def runtime_containers(runtime: str) -> set[str] | None:
    """IDs from `<runtime> list -q` (None if the runtime can't answer)."""
    try:
        out = subprocess.run(
            [runtime, "list", "-q"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return {line.strip() for line in out.stdout.splitlines() if line.strip()}


def under(path: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def loud(msg: str) -> None:
    bar = "!" * 78
    print(f"\n{bar}\n!!! {msg}\n{bar}\n", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- TAP


def parse_tap(text: str) -> dict:
    ok = not_ok = skip = todo = 0
    plan = None
    failures: list[str] = []
    for line in text.splitlines():
        m = TAP_RE.match(line)
        if m:
            d = DIRECTIVE_RE.search(m.group(3) or "")
            if m.group(1) == "ok":
                # `ok N # SKIP ...` is counted apart, not as a pass (MACHINE.md's runc
                # baseline of ~3278 ok counts passes without the ~427 SKIP lines).
                if d and d.group(1).lower() == "skip":
                    skip += 1
                else:
                    ok += 1
            else:
                not_ok += 1
                if d and d.group(1).lower() == "todo":
                    todo += 1
                failures.append((m.group(3) or "").strip())
            continue
        p = PLAN_RE.match(line)
        if p and plan is None:
            plan = int(p.group(1))
    return {
        "ok": ok,
        "not_ok": not_ok,
        "skip": skip,
        "todo": todo,
        "plan": plan,
        "failures": failures,
    }


# --------------------------------------------------------------------------- running


def discover(suite: Path) -> list[str]:
    vdir = suite / "validation"
    names = []
    for d in sorted(vdir.iterdir()):
        if d.is_dir() and d.name not in NOT_TESTS and (d / f"{d.name}.t").is_file():
            names.append(d.name)
    return names


def order(names: list[str]) -> list[str]:
    first = [n for n in names if n not in LAST_TESTS]
    last = [n for n in LAST_TESTS if n in names]
    return first + last


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pgid: int) -> None:
    """SIGKILL the process group we created (pgid == pid of the process we started)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def run_one(
    name: str, suite: Path, runtime: str, timeout: float, tmp_root: Path, log_dir: Path | None
) -> dict:
    exe = suite / "validation" / name / f"{name}.t"
    tdir = tmp_root / name
    tdir.mkdir(parents=True, exist_ok=True)
    tdir.chmod(0o755)
    env = dict(os.environ)
    env["RUNTIME"] = runtime
    env["TMPDIR"] = str(tdir)
    out_path = (log_dir / f"{name}.stdout") if log_dir else (tmp_root / f"{name}.stdout")
    err_path = (log_dir / f"{name}.stderr") if log_dir else (tmp_root / f"{name}.stderr")
    timed_out = False
    leftover_procs = False
    start = time.monotonic()
    with open(out_path, "wb") as fo, open(err_path, "wb") as fe:
        proc = subprocess.Popen(
            [str(exe)],
            cwd=str(suite),  # the tests untar ./rootfs-<arch>.tar.gz
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=fo,
            stderr=fe,
            start_new_session=True,  # own process group: pgid == proc.pid
        )
        pgid = proc.pid
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(pgid)
            rc = proc.wait()
        # Anything the test started that is still in its group is a leftover.
        if group_alive(pgid):
            leftover_procs = True
            kill_group(pgid)
    duration = time.monotonic() - start
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    res = parse_tap(stdout)
    res.update(
        {
            "name": name,
            "returncode": rc,
            "timed_out": timed_out,
            "leftover_processes_killed": leftover_procs,
            "duration_s": round(duration, 2),
            "stderr_tail": stderr[-2000:],
        }
    )
    if res["plan"] is not None and res["plan"] != res["ok"] + res["skip"] + res["not_ok"]:
        res["plan_mismatch"] = True
    # Some tests report only through a YAML diagnostic with plan 1..0 (hooks, poststart, ...)
    # or die on stderr with no TAP at all: no ok/not ok line is counted for them, so flag
    # them (not necessarily failures: e.g. poststop passes with just "1..0"). Read the logs.
    res["flagged"] = timed_out or rc != 0 or res["ok"] + res["skip"] + res["not_ok"] == 0
    if not log_dir:
        out_path.unlink(missing_ok=True)
        err_path.unlink(missing_ok=True)
    return res


def fmt_table(results: list[dict]) -> str:
    total_label = f"TOTAL ({len(results)} tests)"
    w = max([len(total_label), *(len(r["name"]) for r in results)])
    head = (
        f"{'test':<{w}}  {'ok':>5} {'not ok':>6} {'skip':>4} {'timeout':>7} {'rc':>4} {'secs':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        flags = []
        if r.get("flagged") and not r["timed_out"]:
            if r["ok"] + r["skip"] + r["not_ok"] == 0:
                flags.append("no-ok/not-ok-line")
            if r["returncode"] != 0:
                flags.append(f"exit={r['returncode']}")
        if r.get("plan_mismatch"):
            flags.append(f"plan={r['plan']}")
        if r.get("leftover_processes_killed"):
            flags.append("leftover-procs")
        if r.get("cgroup_fs_after", "tmpfs") != "tmpfs":
            flags.append(f"CGROUP={r['cgroup_fs_after']}")
        lines.append(
            f"{r['name']:<{w}}  {r['ok']:>5} {r['not_ok']:>6} {r['skip']:>4} "
            f"{'YES' if r['timed_out'] else '-':>7} {r['returncode']:>4} "
            f"{r['duration_s']:>7.1f}" + (("  " + " ".join(flags)) if flags else "")
        )
    lines.append("-" * len(head))
    t = totals(results)
    lines.append(
        f"{total_label:<{w}}  {t['ok']:>5} {t['not_ok']:>6} "
        f"{t['skip']:>4} {t['timed_out']:>7} {'':>4} {t['duration_s']:>7.1f}"
    )
    lines.append(
        f"(ok = passes; the {t['skip']} `ok # SKIP` lines are counted apart; {t['flagged']} tests "
        "flagged: exit != 0 or no ok/not ok line at all; they report only via YAML/stderr, "
        "see --log-dir)"
    )
    return "\n".join(lines)


def totals(results: list[dict]) -> dict:
    return {
        "tests": len(results),
        "ok": sum(r["ok"] for r in results),
        "not_ok": sum(r["not_ok"] for r in results),
        "skip": sum(r["skip"] for r in results),
        "timed_out": sum(1 for r in results if r["timed_out"]),
        "flagged": sum(1 for r in results if r.get("flagged")),
        "duration_s": round(sum(r["duration_s"] for r in results), 1),
    }


def cleanup_containers(runtime: str, tmp_root: str) -> list[str]:
    """`<runtime> delete --force` containers whose bundle is under tmp_root (ours only)."""
    try:
        out = subprocess.run(
            [runtime, "list", "--format", "json"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        entries = json.loads(out.stdout or "null") or []
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        return [f"<{runtime} list --format json failed: {exc}>"]
    done = []
    for e in entries:
        cid, bundle = e.get("id"), e.get("bundle") or ""
        if not cid or not under(bundle, tmp_root):
            continue
        r = subprocess.run(
            [runtime, "delete", "--force", cid],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        done.append(f"{cid}: {'deleted' if r.returncode == 0 else r.stderr.strip()}")
    return done


def cleanup_mounts(tmp_root: str) -> list[str]:
    """Unmount leftover mounts under tmp_root only, deepest first (lazy detach)."""
    done = []
    points = sorted(
        {m["mountpoint"] for m in read_mounts().values() if under(m["mountpoint"], tmp_root)},
        key=len,
        reverse=True,
    )
    for p in points:
        r = subprocess.run(["umount", "-l", p], capture_output=True, text=True, check=False)
        done.append(f"{p}: {'unmounted' if r.returncode == 0 else r.stderr.strip()}")
    return done


def do_run(args: argparse.Namespace) -> dict:
    suite = Path(args.suite_dir).resolve()
    runtime = shutil.which(args.runtime) or args.runtime
    runtime = os.path.abspath(runtime)
    if os.geteuid() != 0:
        sys.exit("oci-validation: the suite must run as root")
    if not os.access(runtime, os.X_OK):
        sys.exit(f"oci-validation: runtime {runtime} is not executable")
    if not (suite / f"rootfs-{_goarch()}.tar.gz").is_file():
        sys.exit(f"oci-validation: {suite} has no rootfs-{_goarch()}.tar.gz (not a suite dir?)")
    if not (suite / "runtimetest").is_file():
        sys.exit(f"oci-validation: {suite}/runtimetest missing: build the suite first")

    available = discover(suite)
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in available]
        if unknown:
            sys.exit(f"oci-validation: unknown tests: {', '.join(unknown)}")
        names = order([n for n in available if n in wanted])
    else:
        names = order(available)

    cg_before = cgroup_fs_type()
    if cg_before != "tmpfs":
        loud(
            f"BEFORE the run, /sys/fs/cgroup is '{cg_before}', not 'tmpfs'. The host is already broken."
        )
    mounts_before = read_mounts()
    cgdirs_before = cgroup_dirs()
    ctrs_before = runtime_containers(runtime)

    tmp_root = Path(tempfile.mkdtemp(prefix="oci-validation-", dir=args.tmp_base))
    # mkdtemp makes it 0700; containers with user namespaces (linux_uid_mappings) must be
    # able to traverse it to reach their bundle, as they can under the default /tmp.
    tmp_root.chmod(0o755)
    log_dir = Path(args.log_dir).resolve() if args.log_dir else None
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)

    print(
        f"# suite {suite}\n# runtime {runtime}\n# tmp {tmp_root}\n# {len(names)} tests", flush=True
    )
    started = datetime.datetime.now(datetime.UTC)
    t0 = time.monotonic()
    results = []
    broke_after = None
    for i, name in enumerate(names, 1):
        r = run_one(name, suite, runtime, args.timeout, tmp_root, log_dir)
        r["cgroup_fs_after"] = cgroup_fs_type()
        if r["cgroup_fs_after"] != "tmpfs" and broke_after is None and cg_before == "tmpfs":
            broke_after = name
            loud(f"/sys/fs/cgroup became '{r['cgroup_fs_after']}' after test {name}")
        new_here = [
            m
            for k, m in read_mounts().items()
            if k not in mounts_before and under(m["mountpoint"], str(tmp_root / name))
        ]
        if new_here:
            r["leftover_mounts"] = [f"{m['mountpoint']} ({m['fstype']})" for m in new_here]
        results.append(r)
        status = "TIMEOUT" if r["timed_out"] else f"rc={r['returncode']}"
        print(
            f"[{i:2}/{len(names)}] {name:<36} ok={r['ok']:<4} not_ok={r['not_ok']:<3} "
            f"{status} {r['duration_s']:.1f}s",
            flush=True,
        )
    wall = time.monotonic() - t0

    # ----- after the whole run
    cg_after = cgroup_fs_type()
    mounts_after = read_mounts()
    new_mounts = [m for k, m in mounts_after.items() if k not in mounts_before]
    gone_mounts = [m for k, m in mounts_before.items() if k not in mounts_after]
    ctrs_after = runtime_containers(runtime)
    new_ctrs = (
        sorted(ctrs_after - ctrs_before)
        if ctrs_after is not None and ctrs_before is not None
        else None
    )
    cleaned_ctrs = None
    if args.cleanup_containers and new_ctrs:
        cleaned_ctrs = cleanup_containers(runtime, str(tmp_root))
    new_cgdirs = sorted(cgroup_dirs() - cgdirs_before)  # after deleting our containers

    host = {
        "cgroup_fs_before": cg_before,
        "cgroup_fs_after": cg_after,
        "cgroup_broke_after_test": broke_after,
        "new_mounts": [
            dict(m, in_suite_tmp=under(m["mountpoint"], str(tmp_root))) for m in new_mounts
        ],
        "vanished_mounts": gone_mounts,
        "new_cgroup_dirs": new_cgdirs,
        "leftover_containers": new_ctrs,
        "tmp_root": str(tmp_root),
    }
    if cleaned_ctrs is not None:
        host["cleanup_containers"] = cleaned_ctrs
    if args.cleanup_mounts and any(m["in_suite_tmp"] for m in host["new_mounts"]):
        host["cleanup_mounts"] = cleanup_mounts(str(tmp_root))
    still_mounted = any(under(m["mountpoint"], str(tmp_root)) for m in read_mounts().values())
    if still_mounted or args.keep_tmp:
        host["tmp_root_kept"] = True
    else:
        # No mount under it (checked just above), so rmtree cannot cross into another fs.
        shutil.rmtree(tmp_root, ignore_errors=True)
        host["tmp_root_kept"] = False

    run = {
        "runtime": runtime,
        "runtime_version": _runtime_version(runtime),
        "suite_dir": str(suite),
        "suite_commit": _git_head(suite),
        "started_utc": started.isoformat(timespec="seconds"),
        "wall_s": round(wall, 1),
        "timeout_s": args.timeout,
        "totals": totals(results),
        "tests": results,
        "host": host,
    }

    print()
    print(fmt_table(results))
    print(f"\nwall time {wall:.1f}s")
    report_host(host)
    return run


def report_host(host: dict) -> None:
    if host["cgroup_fs_after"] != "tmpfs":
        loud(
            f"HOST DAMAGE: `stat -f -c %T /sys/fs/cgroup` prints '{host['cgroup_fs_after']}', "
            f"not 'tmpfs' (was '{host['cgroup_fs_before']}' before; first seen after "
            f"{host['cgroup_broke_after_test']}). Docker and every runtime are broken until a "
            f"human unmounts it. Not fixing it."
        )
    else:
        print("host: /sys/fs/cgroup is still tmpfs")
    for m in host["new_mounts"]:
        where = "under suite tmp" if m["in_suite_tmp"] else "OUTSIDE suite tmp"
        print(
            f"host: WARNING new mount ({where}): {m['mountpoint']} type {m['fstype']} src {m['source']}"
        )
    for m in host["vanished_mounts"]:
        print(f"host: WARNING mount vanished during the run: {m['mountpoint']} ({m['fstype']})")
    by_name: dict[str, list[str]] = {}
    for d in host["new_cgroup_dirs"]:
        by_name.setdefault(os.path.basename(d), []).append(os.path.basename(os.path.dirname(d)))
    for name, ctrls in sorted(by_name.items()):
        print(
            f"host: note: new top-level cgroup '{name}' in {len(ctrls)} hierarchies "
            f"({','.join(sorted(ctrls))}) (anyone's: the check is machine-wide)"
        )
    if host["leftover_containers"]:
        print(
            f"host: WARNING containers left in the runtime's state: {host['leftover_containers']}"
        )
    for line in host.get("cleanup_containers", []):
        print(f"host: cleanup: container {line}")
    for line in host.get("cleanup_mounts", []):
        print(f"host: cleanup: {line}")
    if any(m["in_suite_tmp"] for m in host["new_mounts"]) and "cleanup_mounts" not in host:
        print(
            f"host: mounts left under {host['tmp_root']} (linux_ns_itype sets up its rootfs in "
            "the host mount namespace); rerun with --cleanup-mounts, or unmount them deepest first"
        )
    if host.get("tmp_root_kept"):
        print(f"host: run dir kept: {host['tmp_root']}")


def _goarch() -> str:
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "i386": "386"}.get(m, m)


def _git_head(path: Path) -> str | None:
    try:
        r = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return r.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def _runtime_version(runtime: str) -> str | None:
    try:
        r = subprocess.run(
            [runtime, "--version"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        return (r.stdout.splitlines() or [""])[0].strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


# --------------------------------------------------------------------------- compare


def _label(run: dict, fallback: str) -> str:
    v = run.get("runtime_version") or run.get("runtime") or fallback
    return v[:24]


def compare(a: dict, b: dict, a_name: str, b_name: str) -> str:
    at = {t["name"]: t for t in a["tests"]}
    bt = {t["name"]: t for t in b["tests"]}
    names = order(sorted(set(at) | set(bt)))
    w = max([len("test"), *(len(n) for n in names)])
    la, lb = _label(a, a_name), _label(b, b_name)
    out = [f"A = {a_name}  ({la})", f"B = {b_name}  ({lb})", ""]
    head = f"{'test':<{w}}  {'A ok':>5} {'A nok':>5} {'A to':>4} | {'B ok':>5} {'B nok':>5} {'B to':>4} | {'d ok':>5}"
    out += [head, "-" * len(head)]

    def cell(t: dict | None) -> str:
        if t is None:
            return f"{'-':>5} {'-':>5} {'-':>4}"
        return f"{t['ok']:>5} {t['not_ok']:>5} {'YES' if t['timed_out'] else '-':>4}"

    for n in names:
        ta, tb = at.get(n), bt.get(n)
        d = (tb["ok"] if tb else 0) - (ta["ok"] if ta else 0)
        mark = "" if d == 0 and (ta and tb and ta["not_ok"] == tb["not_ok"]) else "  *"
        out.append(f"{n:<{w}}  {cell(ta)} | {cell(tb)} | {d:>+5}{mark}")
    out.append("-" * len(head))
    sa, sb = totals(list(at.values())), totals(list(bt.values()))
    out.append(
        f"{'TOTAL':<{w}}  {sa['ok']:>5} {sa['not_ok']:>5} {sa['timed_out']:>4} | "
        f"{sb['ok']:>5} {sb['not_ok']:>5} {sb['timed_out']:>4} | {sb['ok'] - sa['ok']:>+5}"
    )
    # Per-test failure descriptions that differ (TAP numbers stripped).
    diffs = []
    for n in names:
        fa = set((at.get(n) or {}).get("failures", []))
        fb = set((bt.get(n) or {}).get("failures", []))
        for f in sorted(fb - fa):
            diffs.append(f"  {n}: only B fails: {f[:140]}")
        for f in sorted(fa - fb):
            diffs.append(f"  {n}: only A fails: {f[:140]}")
    if diffs:
        out += ["", "failures that differ:", *diffs]
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--suite-dir", help="built runtime-tools checkout")
    ap.add_argument("--runtime", help="runtime binary, passed as RUNTIME=")
    ap.add_argument("--only", help="comma-separated test names (linux_ns_itype still runs last)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per test (default 120)")
    ap.add_argument("--json", help="write results to this JSON file")
    ap.add_argument("--log-dir", help="keep each test's stdout/stderr here")
    ap.add_argument(
        "--compare",
        nargs="+",
        metavar="FILE.json",
        help="with a run: compare it to FILE.json; without --runtime: compare A.json B.json",
    )
    ap.add_argument("--tmp-base", default="/tmp", help="parent of the run's TMPDIR (default /tmp)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the run's temp dir")
    ap.add_argument(
        "--cleanup-mounts",
        action="store_true",
        help="after the run, unmount leftover mounts under the run's temp dir (never elsewhere)",
    )
    ap.add_argument(
        "--cleanup-containers",
        action="store_true",
        help="after the run, `delete --force` leftover containers whose bundle is in the run dir",
    )
    ap.add_argument("--list", action="store_true", help="list the tests in run order and exit")
    args = ap.parse_args(argv)

    if args.list:
        if not args.suite_dir:
            ap.error("--list needs --suite-dir")
        print("\n".join(order(discover(Path(args.suite_dir)))))
        return 0

    if not args.runtime:
        if not args.compare or len(args.compare) != 2:
            ap.error("give --suite-dir and --runtime to run, or --compare A.json B.json")
        a, b = (json.loads(Path(p).read_text()) for p in args.compare)
        print(compare(a, b, args.compare[0], args.compare[1]))
        return 0

    if not args.suite_dir:
        ap.error("--suite-dir is required to run")
    if args.compare and len(args.compare) != 1:
        ap.error("with a run, --compare takes one FILE.json")

    run = do_run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(run, indent=1) + "\n")
        print(f"wrote {args.json}")
    if args.compare:
        base = json.loads(Path(args.compare[0]).read_text())
        print()
        print(compare(base, run, args.compare[0], "this run"))
    return 2 if run["host"]["cgroup_fs_after"] != "tmpfs" else 0


if __name__ == "__main__":
    sys.exit(main())
