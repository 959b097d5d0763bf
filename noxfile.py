"""Automation: tests, lint, typecheck, demo, docker, cgroup2, checkpoint, bench, runc_suite, cri.

Every session runs in the project's own venv (.venv, made by
scripts/bootstrap.sh) rather than a nox-made one: the tests run real
containers as root and call the installed `runcgo` console script.

    .venv/bin/nox -s tests            # unit + integration (root)
    .venv/bin/nox -s faults load      # fault injection and load tiers (root)
    .venv/bin/nox -s soak             # 4,500 containers in waves through the API, no leak (root)
    .venv/bin/nox -s bench_scale      # the API with 50/200/1000 live containers vs crun, runc
    .venv/bin/nox -s lint typecheck
    .venv/bin/nox -s demo             # one real container
    .venv/bin/nox -s docker           # Docker/containerd/podman tier (installs and starts engines)
    .venv/bin/nox -s cri              # Kubernetes CRI suite (critest) with runc and runcgo
    .venv/bin/nox -s fuzz             # hypothesis fuzzing, 10,000 examples (CI runs a smoke)
    .venv/bin/nox -s rootless         # runc vs runcgo as an unprivileged user (root starts it)
"""

from __future__ import annotations

import os
import sys

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
PY = sys.executable  # nox runs from .venv/bin/nox: this is the project venv's python


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Unit and integration tests (integration needs root), warnings as errors."""
    # The Docker tier, the VM tiers (cgroup v2, checkpoint), the fault, load, soak and
    # rootless tiers have their own sessions.
    session.run(PY, "-m", "pytest", "-p", "no:cacheprovider", "--ignore=tests/docker",
                "--ignore=tests/cgroup2", "--ignore=tests/checkpoint", "--ignore=tests/faults",
                "--ignore=tests/load", "--ignore=tests/rootless", "--ignore=tests/soak", "tests",
                *session.posargs,
                external=True)


@nox.session(python=False)
def faults(session: nox.Session) -> None:
    """Fault injection (root): SIGKILL of the runtime at every stage of create, exec
    and delete, a full disk under --root, inits dying before ready, racing creates;
    after each, nothing may be left behind.  Ends with a "faults injected: N" line."""
    session.run(PY, "-m", "pytest", "-p", "no:cacheprovider", "tests/faults",
                *session.posargs, external=True)


@nox.session(python=False)
def fuzz(session: nox.Session) -> None:
    """The hypothesis fuzzing tier (tests/fuzz) at full strength: 10,000 examples per
    in-process property (config.json, process.json, update JSON, state.json, argv) and
    1/20 of that through the real CLI.  Root.  ``-- -k cli`` for the CLI tier only.
    CI's `tests` session runs the same tests as a smoke (RUNCGO_FUZZ_EXAMPLES, default
    300).  RUNCGO_FUZZ_EXAMPLES=N in the environment overrides the count."""
    examples = os.environ.get("RUNCGO_FUZZ_EXAMPLES", "10000")
    session.run(PY, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/fuzz",
                *session.posargs, env={"RUNCGO_FUZZ_EXAMPLES": examples}, external=True)


@nox.session(python=False)
def load(session: nox.Session) -> None:
    """Load (root): 8 CLI workers cycling create/start/state/exec/kill/delete
    ($RUNCGO_LOAD_CYCLES, default 160), 200 containers in flight through the async API
    ($RUNCGO_LOAD_API), one fork server past 1024 containers ($RUNCGO_LOAD_ONE_SERVER);
    no failures, no leaks, an empty state root after."""
    session.run(PY, "-m", "pytest", "-p", "no:cacheprovider", "tests/load",
                *session.posargs, external=True)


@nox.session(python=False)
def rootless(session: nox.Session) -> None:
    """The rootless tier (root starts it): makes an unprivileged user with /etc/subuid
    ranges (removed again if it made it) and runs each scenario as that user with runc
    and with runcgo, side by side -- podman rootless with each as its runtime too --
    and prints a table of both runtimes' outcomes.  45-80 s."""
    session.run(PY, "-m", "pytest", "-p", "no:cacheprovider", "tests/rootless",
                *session.posargs, external=True)


@nox.session(python=False)
def soak(session: nox.Session) -> None:
    """Soak (root, CI tier, ~1-2 min here): waves of 100 concurrent ``rt.run()`` under one
    shared parent cgroup, existing and not, on asyncio and trio ($RUNCGO_SOAK_WAVES per
    case, default 10: 4,000 containers) and one burst ($RUNCGO_SOAK_BURST, default 500).
    Fails on any failed create and on any leak: state entries, cgroup dirs, processes,
    growth of the API's or the fork servers' fds or threads."""
    session.run(PY, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/soak",
                *session.posargs, external=True)


@nox.session(python=False)
def bench_scale(session: nox.Session) -> None:
    """The async API at orchestrator scale (root; not a test): N = 50, 200, 1000 live
    ``sleep`` containers brought up at once, ms per container vs crun's and runc's
    concurrent ``run -d``, teardown times, supervisor RSS; then a soak of 20 waves of
    100 reporting RSS/fds/threads growth per wave.  ``-- --n 50,200`` picks the Ns."""
    session.run(PY, "-m", "compileall", "-q", "runcgo", external=True)  # as installed
    session.run(PY, "tests/bench/bench_scale.py", *session.posargs, external=True)
    session.run(PY, "tests/bench/bench_scale.py", "--soak", "20", external=True)


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    session.run(PY, "-m", "ruff", "check", "runcgo", "tests", "noxfile.py", external=True)


@nox.session(python=False)
def typecheck(session: nox.Session) -> None:
    session.run(PY, "-m", "mypy", external=True)


@nox.session(python=False)
def demo(session: nox.Session) -> None:
    """Build a busybox bundle with `runcgo spec` and run a real container in it."""
    session.run(PY, "scripts/demo.py", *session.posargs, external=True)


@nox.session(python=False)
def docker(session: nox.Session) -> None:
    """Docker/containerd/podman scenarios, runcgo against runc as the control.

    Needs root. Installs Debian's docker.io/containerd/podman if missing, starts
    containerd+dockerd (scripts/docker-up.sh), builds images locally, runs every
    scenario with runc and runcgo, prints the table, stops what it started.
    ``nox -s docker -- --bench`` also runs the docker-run benchmark.
    """
    args = list(session.posargs)
    bench = "--bench" in args
    if bench:
        args.remove("--bench")
    session.run(PY, "-m", "pytest", "tests/docker", "-p", "no:cacheprovider", "-q", *args,
                env={"RUNCGO_DOCKER_TIER": "1"}, external=True)
    if bench:
        session.run(PY, "tests/docker/bench_docker_run.py", "-n", "20", external=True)


@nox.session(python=False)
def checkpoint(session: nox.Session) -> None:
    """CRIU checkpoint/restore tier: boots ONE QEMU guest (Debian's 6.1 kernel, where
    Debian's criu 3.17 works; the host's >= 6.13 kernel can't run it) and runs every
    round trip for runcgo and for runc as the control, then the async API on asyncio
    and trio; prints a per-case table (runcgo vs runc, times).  On the host: the
    error case of a criu that can't work here (one line, the container runs on)."""
    session.run(PY, "-m", "compileall", "-q", "runcgo", "tests", external=True)
    session.run(PY, "tests/vm/launch.py", "--build-only", external=True)
    session.run(PY, "-m", "pytest", "-p", "no:cacheprovider", "-ra", "-s",
                "tests/integration/test_checkpoint.py", "tests/unit/test_criu_argv.py",
                "tests/unit/test_criu_swrk.py",
                "tests/checkpoint", *session.posargs, external=True)


@nox.session(python=False)
def checkpoint_bats(session: nox.Session) -> None:
    """runc's own checkpoint.bats in the QEMU guest, runc then runcgo, one boot each
    (2-3 min apiece under emulation; not in CI): a per-test table, and exit 1 if a test
    that passes with runc fails with runcgo.  Hold /work/suite.lock as for the suites."""
    session.run(PY, "-m", "compileall", "-q", "runcgo", "tests", external=True)
    session.run(PY, "tests/vm/launch.py", "--build-only", external=True)
    session.run(PY, "tests/checkpoint/bats_compare.py", *session.posargs, external=True)


@nox.session(python=False)
def cgroup2(session: nox.Session) -> None:
    """cgroup-v2 tier: boots ONE QEMU guest with pure cgroup v2 for every test in
    tests/cgroup2/guest/ (plus a systemd-as-PID-1 boot for tests/cgroup2/guest_systemd/)
    and reports each guest test's outcome on the host.  The guest runs this venv's
    interpreter from the host's read-only root.  ``nox -s cgroup2 -- -k freeze``.
    """
    # Bytecode for the project and its tests, so nothing compiles in the ~50x slower guest.
    session.run(PY, "-m", "compileall", "-q", "runcgo", "tests", external=True)
    session.run(PY, "tests/vm/launch.py", "--build-only", external=True)
    session.run(PY, "-m", "pytest", "-p", "no:cacheprovider", "-ra", "--durations=5",
                "tests/cgroup2", *session.posargs, external=True)


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """runcgo vs runc vs crun side by side (root; not a test).  ``-- --quick`` is the CI
    smoke (N=3); ``-- --json FILE`` also writes the results.  The async API's throughput
    benchmark: ``python tests/api/bench_api.py -n 100``; pod start/stop through the CRI:
    ``python tests/bench/pod_bench.py -n 20``."""
    session.run(PY, "tests/bench/bench.py", *session.posargs, external=True)
    api_args = ["-n", "10", "--rounds", "1"] if "--quick" in session.posargs else []
    session.run(PY, "tests/api/bench_api.py", *api_args, external=True)
    # Pods through containerd's CRI (runcgo vs runc), when the CRI bench is beside the
    # checkout (or in $RUNCGO_SUITES); exit 2 means it is not, and is a skip.
    pod_args = ["--quick"] if "--quick" in session.posargs else []
    session.run(PY, "tests/bench/pod_bench.py", *pod_args, external=True, success_codes=[0, 2])


@nox.session(python=False)
def api_pythons(session: nox.Session) -> None:
    """The async API's tests on Python 3.12 and 3.13 too (warnings as errors: 3.12+ warns
    when a process with threads forks, which the fork server design must never do).
    Uses the interpreters pyenv provides on the development/CI machines."""
    import glob
    import shutil

    ran = 0
    for ver in ("3.12", "3.13"):
        found = sorted(glob.glob(f"/root/.pyenv/versions/{ver}.*/bin/python{ver}"))
        exe = found[-1] if found else shutil.which(f"python{ver}")
        if not exe:
            session.warn(f"no Python {ver} on this machine; its API run is not done")
            continue
        venv = os.path.join(".nox", f"api-py{ver.replace('.', '')}")
        py = os.path.join(venv, "bin", "python")
        if not os.path.exists(py):
            session.run(exe, "-m", "venv", venv, external=True)
        session.run(py, "-m", "pip", "install", "-q", "-e", ".[test]", external=True)
        session.run(py, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/api",
                    env={"RUNCGO_CLI": f"{py} -m runcgo"}, external=True)
        ran += 1
    if not ran:
        session.error("neither Python 3.12 nor 3.13 found")


@nox.session(python=False)
def runc_suite(session: nox.Session) -> None:
    """runc v1.1.5's own integration suite (../shared/suites/runc-integration) against runc
    and runcgo in one run; fails when a test runc passes here does not pass with runcgo.
    ``nox -s runc_suite -- --only exec,tty``."""
    session.run(PY, "tests/suites/runc_parity.py", *session.posargs, external=True)


@nox.session(python=False)
def cri(session: nox.Session) -> None:
    """Kubernetes' CRI validation suite (critest v1.26.1 through containerd 1.6's CRI plugin,
    ../shared/suites/cri) with runc and with runcgo as the pod runtime handler, in one run;
    fails when a spec runc passes does not pass with runcgo, or when the bench's teardown
    leaves anything on the host.  Root; installs Debian's containerd if missing.
    ``nox -s cri -- --runcgo PATH`` (default /usr/local/bin/runcgo);
    ``nox -s cri -- -- -ginkgo.focus=NoNewPrivs`` to run a few specs."""
    session.run(PY, "tests/suites/cri_parity.py", *session.posargs, external=True)
