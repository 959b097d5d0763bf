"""Infrastructure of the Docker test tier: engines up/down, local images, command helpers.

Used by the pytest scenarios (test_scenarios.py / conftest.py) and by bench_docker_run.py.
Nothing here talks to a registry: the images are built from local files (busybox-static) and
from a debootstrap tarball cached under /var/cache/runcgo-docker.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UP_SCRIPT = REPO / "scripts" / "docker-up.sh"
DOWN_SCRIPT = REPO / "scripts" / "docker-down.sh"
STATE_DIR = Path(os.environ.get("RUNCGO_DOCKER_STATE", "/run/runcgo-docker-tier"))
CACHE_DIR = Path(os.environ.get("RUNCGO_DOCKER_CACHE", "/var/cache/runcgo-docker"))

# Debian's client matches the 20.10 daemon; /usr/local/bin may hold some other docker CLI.
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else (shutil.which("docker") or "docker")
CTR = "/usr/bin/ctr"
PODMAN = shutil.which("podman") or "/usr/bin/podman"
TMUX = shutil.which("tmux") or "/usr/bin/tmux"
RUNCGO_BIN = os.environ.get("RUNCGO_BIN", "/usr/local/bin/runcgo")
RUNC_BIN = shutil.which("runc") or "/usr/sbin/runc"

LABEL = "runcgo-docker-tier"  # every container we create carries --label runcgo-docker-tier=1
BUSYBOX_IMAGE = "busybox:runcgo-test"
DEBIAN_IMAGE = "debian:runcgo-test"
CTR_NAMESPACE = "runcgo-tier"
TMUX_SOCKET = "runcgo-docker-tier"

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("RUNCGO_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DEBIAN_TARBALL = CACHE_DIR / f"debian-{DEBIAN_SUITE}-minbase.tar"

# The runtime binary each runtime name stands for, for engines that take a path.
RUNTIME_BINS = {"runc": RUNC_BIN, "runcgo": RUNCGO_BIN}

SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# Filled by the scenarios: (scenario id, runtime) -> (outcome, detail); outcome is
# pass / FAIL / skip. SCENARIO_ORDER lists the scenario ids in definition order.
RESULTS: dict[tuple[str, str], tuple[str, str]] = {}
SCENARIO_ORDER: list[str] = []


class Unavailable(Exception):
    """A prerequisite (image, engine) cannot be had on this machine; the reason is the message."""


def run(
    cmd: Sequence[str],
    *,
    input: str | bytes | None = None,
    timeout: float = 30,
    check: bool = False,
    text: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run a command, capturing stdout and stderr separately."""
    if isinstance(input, bytes):
        text = False
    p = subprocess.run(
        list(cmd),
        input=input,
        capture_output=True,
        timeout=timeout,
        text=text,
        env=env,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    if check and p.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {p.returncode}: {str(p.stderr).strip() or str(p.stdout).strip()}"
        )
    return p


def docker(*args: str, **kw) -> subprocess.CompletedProcess:
    return run([DOCKER, *args], **kw)


def cgroup_fs_type() -> str:
    return run(["stat", "-f", "-c", "%T", "/sys/fs/cgroup"], check=True).stdout.strip()


# ------------------------------------------------------------------------------------- engines


def _our_pids() -> dict[str, int]:
    out = {}
    for name in ("containerd", "dockerd"):
        try:
            pid = int((STATE_DIR / f"{name}.pid").read_text().strip())
            os.kill(pid, 0)
            out[name] = pid
        except (OSError, ValueError):
            pass
    return out


def engines_up(timeout: float = 900) -> bool:
    """Run scripts/docker-up.sh. Returns True if this call started daemons (so the caller should
    stop them), False if they were already running (ours from an earlier up, or someone else's)."""
    before = _our_pids()
    p = run(["bash", str(UP_SCRIPT)], timeout=timeout)
    if p.returncode != 0:
        raise Unavailable(f"docker-up.sh failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    after = _our_pids()
    return any(after.get(k) != before.get(k) for k in after)


def engines_down() -> str:
    p = run(["bash", str(DOWN_SCRIPT)], timeout=120)
    return p.stderr.strip()


# -------------------------------------------------------------------------------------- images


def image_exists(ref: str) -> bool:
    return docker("image", "inspect", ref).returncode == 0


PASSWD = """root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """root:x:0:
user:x:1000:
nogroup:x:65534:
"""


def build_busybox_image(ref: str = BUSYBOX_IMAGE) -> None:
    """A rootfs with /bin/busybox (busybox-static), `busybox --install -s`, passwd/group with
    root and uid 1000, imported with CMD ["/bin/sh"]."""
    busybox = "/bin/busybox"
    if not os.path.exists(busybox):
        raise Unavailable("no /bin/busybox (apt-get install busybox-static)")
    with tempfile.TemporaryDirectory(prefix="runcgo-bb-") as tmp:
        root = Path(tmp) / "rootfs"
        for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "home/user", "proc",
                  "sys", "dev", "var/www", "run"):
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "tmp").mkdir(mode=0o1777)
        os.chmod(root / "tmp", 0o1777)
        os.chown(root / "home/user", 1000, 1000)
        shutil.copy2(busybox, root / "bin/busybox")
        run(["chroot", str(root), "/bin/busybox", "--install", "-s"], check=True)
        (root / "etc/passwd").write_text(PASSWD)
        (root / "etc/group").write_text(GROUP)
        (root / "etc/hostname").write_text("busybox\n")
        (root / "var/www/index.html").write_text("hello from busybox httpd\n")
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(root), "-c", "."],
                               stdout=subprocess.PIPE)
        try:
            imp = subprocess.run([DOCKER, "import", "-c", 'CMD ["/bin/sh"]', "-", ref],
                                 stdin=tar.stdout, capture_output=True, text=True, timeout=120)
        finally:
            assert tar.stdout is not None
            tar.stdout.close()
            tar.wait()
        if imp.returncode != 0:
            raise RuntimeError(f"docker import {ref} failed: {imp.stderr.strip()}")


def ensure_debian_tarball() -> Path:
    """debootstrap --variant=minbase bookworm, cached as a tarball. Raises Unavailable with the
    reason if the mirror can't be reached."""
    if DEBIAN_TARBALL.exists() and DEBIAN_TARBALL.stat().st_size > 10_000_000:
        return DEBIAN_TARBALL
    if not shutil.which("debootstrap"):
        raise Unavailable("debootstrap is not installed")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="runcgo-deb-", dir=CACHE_DIR) as tmp:
        root = Path(tmp) / "rootfs"
        try:
            p = run(["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(root), DEBIAN_MIRROR],
                    timeout=900)
        except subprocess.TimeoutExpired as e:
            raise Unavailable(f"debootstrap timed out after {e.timeout}s") from None
        if p.returncode != 0:
            tail = (p.stdout + p.stderr).strip().splitlines()[-3:]
            raise Unavailable(f"debootstrap {DEBIAN_SUITE} from {DEBIAN_MIRROR} failed: "
                              + " | ".join(tail))
        # smaller image: drop downloaded .debs and package lists
        for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_Packages",
                        "var/lib/apt/lists/*_InRelease", "var/lib/apt/lists/*_Release*"):
            for f in root.glob(pattern):
                f.unlink()
        part = DEBIAN_TARBALL.with_suffix(".tar.part")
        run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(part), "."], check=True,
            timeout=300)
        part.rename(DEBIAN_TARBALL)
    return DEBIAN_TARBALL


def build_debian_image(ref: str = DEBIAN_IMAGE) -> None:
    tarball = ensure_debian_tarball()
    with open(tarball, "rb") as f:
        p = subprocess.run([DOCKER, "import", "-c", 'CMD ["/bin/bash"]', "-", ref], stdin=f,
                           capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"docker import {ref} failed: {p.stderr.strip()}")


# ----------------------------------------------------------------------------------- cleanup


def remove_labelled_containers() -> list[str]:
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}").stdout.split()
    for cid in ids:  # one by one, so a container stuck in a hung runtime doesn't block the rest
        docker("rm", "-f", "-v", cid, timeout=30)
    return ids


def remove_images(refs: Sequence[str]) -> None:
    for ref in refs:
        if image_exists(ref):
            docker("rmi", "-f", ref, timeout=60)


def remove_labelled_networks() -> list[str]:
    ids = docker("network", "ls", "-q", "--filter", f"label={LABEL}").stdout.split()
    if ids:
        docker("network", "rm", *ids)
    return ids


def cleanup_ctr() -> None:
    if not os.path.exists(CTR):
        return
    ctr = [CTR, "-n", CTR_NAMESPACE]
    if run([CTR, "namespaces", "ls", "-q"], timeout=30).stdout.split().count(CTR_NAMESPACE) == 0:
        return
    for task in run([*ctr, "tasks", "ls", "-q"], timeout=30).stdout.split():
        run([*ctr, "tasks", "kill", "-s", "SIGKILL", task], timeout=30)
        for _ in range(50):
            if run([*ctr, "tasks", "rm", "-f", task], timeout=30).returncode == 0:
                break
            time.sleep(0.1)
    for c in run([*ctr, "containers", "ls", "-q"], timeout=30).stdout.split():
        run([*ctr, "containers", "rm", c], timeout=30)
    for img in run([*ctr, "images", "ls", "-q"], timeout=30).stdout.split():
        run([*ctr, "images", "rm", "--sync", img], timeout=60)
    run([*ctr, "content", "prune", "references"], timeout=60)
    run([CTR, "namespaces", "rm", CTR_NAMESPACE], timeout=30)
    remove_namespace_cgroups()


def remove_namespace_cgroups() -> None:
    """ctr puts its containers under /<namespace>/<id> in every hierarchy. The runtimes
    remove the leaf, but a parent that several containers shared is nobody's to remove
    (runc leaves it too): the test tier made the namespace, so it removes the empty dirs."""
    root = "/sys/fs/cgroup"
    for ctrl in os.listdir(root):
        d = os.path.join(root, ctrl, CTR_NAMESPACE)
        if os.path.isdir(d):
            # not empty: something still runs there, and the tier's checks report it
            with contextlib.suppress(OSError):
                os.rmdir(d)


def podman_base(runtime_bin: str) -> list[str]:
    return [PODMAN, "--runtime", runtime_bin, "--cgroup-manager", "cgroupfs",
            "--events-backend", "file"]


def cleanup_podman(image_refs: Sequence[str]) -> None:
    if not os.path.exists(PODMAN):
        return
    base = podman_base(RUNC_BIN)
    ids = run([*base, "ps", "-aq", "--filter", f"label={LABEL}"], timeout=60).stdout.split()
    if ids:
        run([*base, "rm", "-f", *ids], timeout=120)
    for ref in image_refs:
        run([*base, "rmi", "-f", ref], timeout=60)


def tmux_kill_server() -> None:
    run([TMUX, "-L", TMUX_SOCKET, "kill-server"], timeout=10)


def inspect(name: str) -> dict:
    p = docker("inspect", name)
    if p.returncode != 0:
        raise AssertionError(f"docker inspect {name}: {p.stderr.strip()}")
    return json.loads(p.stdout)[0]
