# --- cgroup v2 tier (tests/vm, tests/cgroup2) -------------------------------------
# Merge into noxfile.py (needs `import nox`, `import os`).  Runs as root on a host with
# qemu-system-x86, linux-image-amd64 and busybox-static installed (see tests/vm/README.md).
import os

import nox


@nox.session(python=False, reuse_venv=True)
def cgroup2(session: nox.Session) -> None:
    """cgroup-v2 tests: the host-side pytest in tests/cgroup2 boots ONE QEMU guest with
    pure cgroup v2 for all tests in tests/cgroup2/guest/ (plus one systemd-PID-1 boot
    for tests/cgroup2/guest_systemd/ if any), and a smoke test of the launcher."""
    # The guest runs the same interpreter (sys.executable) from the host's read-only
    # root, so any venv works; the project's own .venv by default (a real interpreter,
    # not a pyenv shim: a shim costs ~8 s per call in the emulated guest).
    python = os.environ.get("RUNCGO_PYTHON", os.path.join(os.getcwd(), ".venv", "bin", "python"))
    if not os.path.exists(python):
        session.run("python3", "-m", "venv", ".venv", external=True)
        session.run(python, "-m", "pip", "install", "-q", "-e", ".[test]", external=True)
    # Bytecode for the project and tests, so no process in the (50x slower) guest
    # compiles them; __pycache__ is git-ignored.
    session.run(python, "-m", "compileall", "-q", "runcgo", "tests", external=True)
    # Build/refresh the cached vmlinux + initramfs outside the timed tests.
    session.run(python, "tests/vm/launch.py", "--build-only", external=True)
    session.run(
        python, "-m", "pytest", "-p", "no:cacheprovider", "-ra", "--durations=5",
        "tests/cgroup2", *session.posargs,
        external=True,
        env={"PYTHONDONTWRITEBYTECODE": "1"},
    )
