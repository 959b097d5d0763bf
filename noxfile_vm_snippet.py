# --- cgroup v2 tier (tests/vm, tests/cgroup2) -------------------------------------
# Merge into noxfile.py.  Runs as root on a host with qemu-system-x86,
# linux-image-amd64 and busybox-static installed (see tests/vm/README.md).
import nox


@nox.session(reuse_venv=True)
def cgroup2(session: nox.Session) -> None:
    """cgroup-v2 tier: the host-side pytest in tests/cgroup2 boots ONE QEMU guest with
    pure cgroup v2 for all tests in tests/cgroup2/guest/ (plus one systemd-as-PID-1 boot
    for tests/cgroup2/guest_systemd/ when any are selected) and smoke-tests the launcher.

    The guest runs this session's interpreter (sys.executable) from the host's
    read-only root, so the venv is used unchanged inside.  Extra args go to pytest,
    e.g. `nox -s cgroup2 -- -k freeze`.
    """
    session.install("-e", ".[test]")
    # Bytecode for the project and its tests, so no process in the ~50x slower guest
    # compiles them (PYTHONDONTWRITEBYTECODE=1 is set here); __pycache__ is git-ignored.
    session.run("python", "-m", "compileall", "-q", "runcgo", "tests")
    # Build/refresh the cached vmlinux + initramfs (~1-2 s, once per kernel/launcher).
    session.run("python", "tests/vm/launch.py", "--build-only")
    session.run(
        "python",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-ra",
        "--durations=5",
        "tests/cgroup2",
        *session.posargs,
    )
