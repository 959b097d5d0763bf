"""podman rootless with runc and with runcgo as its runtime, as the tier's unprivileged user.

podman (Debian's 4.3) runs the runtime inside its own rootless user namespace
(root there, with the user's /etc/subuid range mapped through newuidmap), so
this is ``--rootless auto`` deciding from "root in a user namespace".  The
image is imported from the busybox-static rootfs: no registry.  Storage,
configuration and runtime dirs live in a temporary home, removed with
``podman system reset`` at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rltier import RUNC, Named, RLUser, bundles, record_outcome, run_as, runcgo_cmd

IMAGE = "localhost/busybox:runcgo-rl"
PODMAN = shutil.which("podman")


class Podman:
    """podman as the user, in a private home."""

    def __init__(self, user: RLUser, home: Path) -> None:
        self.user, self.home = user, home
        self.runtimes = {"runc": RUNC, "runcgo": str(home / "runcgo")}

    def env(self) -> dict[str, str]:
        h = str(self.home)
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOME": h, "USER": self.user.name, "LOGNAME": self.user.name,
               "XDG_RUNTIME_DIR": f"{h}/run", "XDG_CONFIG_HOME": f"{h}/config",
               "XDG_DATA_HOME": f"{h}/data"}
        if os.environ.get("PYTHONPATH"):
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        return env

    def __call__(self, *args: str, runtime: str | None = None, tty: bool = False,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [str(PODMAN), *(("--runtime", self.runtimes[runtime]) if runtime else ()), *args]
        # With -it (tty), podman's attach could lose the output if script(1) typed ^D
        # at an early EOF (with runc as with runcgo): run_as keeps stdin open.
        r = run_as(self.user, cmd, env=self.env(), cwd=str(self.home), timeout=timeout, tty=tty)
        r.stdout = r.stdout.replace("\r", "")
        return r


def _chown(path: Path, user: RLUser) -> None:
    for top, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(top, name), user.uid, user.gid)
    os.chown(path, user.uid, user.gid)


@pytest.fixture(scope="module")
def podman(rl_user: RLUser) -> Iterator[Podman]:
    if PODMAN is None:
        pytest.skip("podman is not installed (scripts/docker-up.sh installs it for the engine tiers)")
    for tool in ("slirp4netns", "fuse-overlayfs"):
        assert shutil.which(tool), f"{tool} missing: scripts/bootstrap.sh --tests installs it"
    home = Path(tempfile.mkdtemp(prefix="runcgo-rl-podman-", dir="/tmp"))
    os.chmod(home, 0o700)
    p = Podman(rl_user, home)
    try:
        (home / "run").mkdir(mode=0o700)
        (home / "config" / "containers").mkdir(parents=True)
        (home / "config" / "containers" / "containers.conf").write_text(
            '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
        wrapper = home / "runcgo"  # podman takes one executable path
        wrapper.write_text("#!/bin/sh\nexec " + " ".join(runcgo_cmd()) + ' "$@"\n')
        wrapper.chmod(0o755)
        rootfs = home / "image-rootfs"
        bundles.make_rootfs(str(rootfs))
        with tarfile.open(home / "busybox.tar", "w") as tar:
            tar.add(rootfs, arcname=".")
        shutil.rmtree(rootfs)
        _chown(home, rl_user)
        r = p("import", "-c", 'CMD ["/bin/sh"]', str(home / "busybox.tar"), IMAGE)
        assert r.returncode == 0, r.stderr
        yield p
    finally:
        p("rm", "--all", "--force", "--time", "0")
        p("system", "reset", "--force")
        deadline = time.monotonic() + 5
        while rl_user.leftover_pids() and time.monotonic() < deadline:
            for pid in rl_user.leftover_pids():  # podman's pause process, ours
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        with open("/proc/self/mountinfo") as f:
            leaked = [line.split()[4] for line in f if str(home) in line.split()[4]]
        for m in leaked:
            subprocess.run(["umount", "-l", m], check=False)
        shutil.rmtree(home, ignore_errors=True)
        assert not leaked, f"podman left mounts behind: {leaked}"


@pytest.fixture(params=["runc", "runcgo"])
def rtname(request: pytest.FixtureRequest, podman: Podman) -> Iterator[str]:
    yield request.param
    r = podman("ps", "--all", "--quiet")
    assert r.stdout.strip() == "", f"{request.param}: containers left: {r.stdout}"


def test_podman_run_rm(podman: Podman, rtname: str, request: pytest.FixtureRequest) -> None:
    r = podman("run", "--rm", IMAGE, "sh", "-c", "echo hi; id -u; cat /proc/self/uid_map",
               runtime=rtname)
    record_outcome(request, Named(rtname), f"exit {r.returncode}: {' '.join(r.stdout.split()[:2])}")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:2] == ["hi", "0"]
    sub = podman.user.subuid
    assert [x.split() for x in lines[2:]] == [["0", str(podman.user.uid), "1"],
                                             ["1", str(sub[0]), str(sub[1])]]


def test_podman_exit_code(podman: Podman, rtname: str, request: pytest.FixtureRequest) -> None:
    r = podman("run", "--rm", IMAGE, "sh", "-c", "exit 7", runtime=rtname)
    record_outcome(request, Named(rtname), f"exit {r.returncode}")
    assert r.returncode == 7, r.stderr


def test_podman_keep_id(podman: Podman, rtname: str, request: pytest.FixtureRequest) -> None:
    r = podman("run", "--rm", "--userns=keep-id", IMAGE, "id", "-u", runtime=rtname)
    record_outcome(request, Named(rtname), f"exit {r.returncode}: uid {r.stdout.strip()}")
    assert r.returncode == 0 and r.stdout.strip() == str(podman.user.uid), r.stderr


def test_podman_detached_exec_stop(podman: Podman, rtname: str,
                                   request: pytest.FixtureRequest) -> None:
    name = f"rl-podman-{rtname}"
    r = podman("run", "-d", "--name", name, IMAGE, "sleep", "1000", runtime=rtname)
    assert r.returncode == 0, r.stderr
    try:
        e = podman("exec", name, "sh", "-c", "echo exec-ok; id -u")
        assert e.returncode == 0 and e.stdout == "exec-ok\n0\n", e.stderr
        s = podman("stop", "--time", "1", name)
        assert s.returncode == 0, s.stderr
        i = podman("inspect", "--format", "{{.State.Status}}", name)
        assert i.stdout.strip() == "exited"
        record_outcome(request, Named(rtname), f"exec ok, stop -> {i.stdout.strip()}")
    finally:
        podman("rm", "--force", "--time", "0", name)


def test_podman_run_it(podman: Podman, rtname: str, request: pytest.FixtureRequest) -> None:
    r = podman("run", "--rm", "-it", IMAGE, "sh", "-c", "tty; echo tty-ok", runtime=rtname,
               tty=True)
    words = r.stdout.replace("^@", "").split()
    record_outcome(request, Named(rtname), f"exit {r.returncode}: {' '.join(words)}")
    assert r.returncode == 0, r.stderr
    assert words[-2:] == ["/dev/pts/0", "tty-ok"]


def test_podman_volume_owned_by_the_user(podman: Podman, rtname: str,
                                         request: pytest.FixtureRequest) -> None:
    """A bind volume of the user's files: container root owns them (0 -> the user)."""
    vol = podman.home / f"vol-{rtname}"
    vol.mkdir()
    (vol / "f").write_text("data\n")
    _chown(vol, podman.user)
    r = podman("run", "--rm", "-v", f"{vol}:/vol", IMAGE, "sh", "-c",
               "cat /vol/f; stat -c %u /vol/f; touch /vol/new", runtime=rtname)
    record_outcome(request, Named(rtname), f"exit {r.returncode}: {' '.join(r.stdout.split())}")
    assert r.returncode == 0 and r.stdout.split() == ["data", "0"], r.stderr
    assert os.stat(vol / "new").st_uid == podman.user.uid
