"""What Kubernetes (kubelet -> containerd's CRI plugin -> containerd-shim-runc-v2) asks of the
runtime beyond what Docker does: privileged pods list every host device, bidirectional
volumes need rshared propagation both ways, and stopping a container in a pod that shares
its pid namespace ends with ``kill --all ID 9`` after the container's init is gone.

Each test builds the config the way containerd 1.6 does for that case (seen in the
critest bench's keeplog'd config.json files) and drives the CLI as the shim does.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from harness import TEST_CG_PREFIX, Runcgo

PRIV_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETUID",
             "CAP_SETGID", "CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_SYS_CHROOT"]


def host_devices() -> list[dict[str, Any]]:
    """linux.devices as containerd builds it for a privileged container: every char or
    block node of the host's /dev, minus the directories it skips (pts, shm, fd, mqueue)
    and /dev/console; /dev/ptmx is in the list."""
    out: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk("/dev"):
        dirnames[:] = [d for d in dirnames if not (dirpath == "/dev" and d in ("pts", "shm", "fd", "mqueue"))]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if path == "/dev/console":
                continue
            st = os.lstat(path)
            kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else None
            if kind:
                out.append({"path": path, "type": kind, "major": os.major(st.st_rdev),
                            "minor": os.minor(st.st_rdev), "fileMode": st.st_mode & 0o777,
                            "uid": 0, "gid": 0})
    return out


def privileged(runcgo: Runcgo, args: list[str], devices: list[dict[str, Any]],
               **edits: Any) -> tuple[str, Path]:
    return runcgo.bundle(args, **{"linux.devices": devices,
                                  "linux.resources.devices": [{"allow": True, "access": "rwm"}],
                                  "linux.maskedPaths": [], "linux.readonlyPaths": [],
                                  **{f"process.capabilities.{k}": PRIV_CAPS
                                     for k in ("bounding", "effective", "permitted")},
                                  **edits})


def test_privileged_device_list_with_paths_the_runtime_makes(runcgo: Runcgo) -> None:
    """Entries for paths the runtime has already made (the pts/ptmx node of the new devpts,
    the /dev/shm mount point, a default device) are not errors: a node that is already
    there as the same device is kept, a mount point is left alone."""
    devices = [*host_devices(),
               {"path": "/dev/pts/ptmx", "type": "c", "major": 5, "minor": 2},
               {"path": "/dev/shm", "type": "c", "major": 1, "minor": 3}]
    cid, bundle = privileged(runcgo, ["sh", "-c", "readlink /dev/ptmx; "
                                                 "stat -c '%F %t:%T' /dev/kmsg /dev/null /dev/shm "
                                                 "/dev/pts/ptmx"], devices,
                             mounts=[{"destination": "/proc", "type": "proc", "source": "proc"},
                                     {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                                      "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                                     {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                                      "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                                  "mode=0620", "gid=5"]},
                                     {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                                      "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}])
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "pts/ptmx"
    assert lines[1].startswith("character special file 1:") and lines[2] == "character special file 1:3"
    assert lines[3].startswith("directory") and lines[4] == "character special file 5:2"


def test_device_that_cannot_be_made_names_its_path(runcgo: Runcgo) -> None:
    """A pts number that does not exist in the new devpts can't be made (runc fails too);
    the error says which entry."""
    cid, bundle = privileged(runcgo, ["true"], [{"path": "/dev/pts/7", "type": "c",
                                                 "major": 136, "minor": 7}])
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode != 0
    assert "/dev/pts/7" in r.stderr, r.stderr


def _mountpoints() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


@pytest.fixture
def shared_host_dir(tmp_path: Path):
    """A host directory bind-mounted on itself and made rshared, as critest's
    mount-propagation specs (and kubelet for a Bidirectional volume) prepare it."""
    d = tmp_path / "vol"
    d.mkdir()
    subprocess.run(["mount", "--bind", str(d), str(d)], check=True)
    subprocess.run(["mount", "--make-rshared", str(d)], check=True)
    yield d
    for m in sorted((m for m in _mountpoints() if m == str(d) or m.startswith(f"{d}/")),
                    key=len, reverse=True):
        subprocess.run(["umount", "-l", m], check=False)


def test_rshared_volume_propagates_both_ways(runcgo: Runcgo, shared_host_dir: Path) -> None:
    """containerd: a Bidirectional volume is ``rbind,rshared`` and rootfsPropagation is
    ``rshared``.  A mount made in the container under the volume appears on the host, and
    one the host makes there appears in the container."""
    d = shared_host_dir
    (d / "fromhost").mkdir()
    script = ("mkdir -p /mnt/vol/fromctr && mount -t tmpfs ctr /mnt/vol/fromctr && "
              "touch /mnt/vol/fromctr/made-inside && echo ready && "
              "i=0; while [ ! -e /mnt/vol/fromhost/made-outside ] && [ $i -lt 200 ]; do "
              "sleep 0.05; i=$((i+1)); done; ls /mnt/vol/fromhost")
    cid, bundle = privileged(runcgo, ["sh", "-c", script], [],
                             **{"linux.rootfsPropagation": "rshared"})
    cfg_mounts = [{"destination": "/proc", "type": "proc", "source": "proc"},
                  {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
                  {"destination": "/mnt/vol", "type": "bind", "source": str(d),
                   "options": ["rbind", "rshared", "rw"]}]
    runcgo.edit(bundle, "mounts", cfg_mounts)
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    deadline = time.monotonic() + 10
    while not (d / "fromctr" / "made-inside").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (d / "fromctr" / "made-inside").exists(), "container's mount did not reach the host"
    subprocess.run(["mount", "-t", "tmpfs", "host", str(d / "fromhost")], check=True)
    (d / "fromhost" / "made-outside").touch()
    deadline = time.monotonic() + 15
    while runcgo.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    runcgo("delete", "--force", cid, check=True)
    # Nothing of the container's tree (its rootfs bind) leaked onto the host.
    assert not [m for m in _mountpoints() if m.startswith(str(bundle))]


def test_rshared_root_does_not_leak_rootfs_mounts_to_the_host(runcgo: Runcgo) -> None:
    cid, bundle = privileged(runcgo, ["sleep", "30"], [], **{"linux.rootfsPropagation": "rshared"})
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    try:
        assert not [m for m in _mountpoints() if m.startswith(str(bundle))]
    finally:
        runcgo("delete", "--force", cid, check=True)


def _procs(cg_procs: str) -> list[int]:
    with open(cg_procs) as f:
        return [int(p) for p in f.read().split()]


def test_kill_all_after_init_exit_in_shared_pid_namespace(runcgo: Runcgo) -> None:
    """A pod sharing one pid namespace: the app container's init exits and leaves a child
    (reparented inside the pod).  containerd then calls ``kill --all ID 9``: it must kill
    what is left in the container's cgroup and exit 0, as runc does."""
    pod, pod_bundle = runcgo.bundle(["sleep", "300"])
    runcgo("run", "-d", "--bundle", str(pod_bundle), pod, check=True)
    pod_pid = runcgo.state(pod)["pid"]
    try:
        cid, bundle = runcgo.bundle(["sh", "-c", "sleep 301 & echo started"])
        runcgo.edit(bundle, "linux.namespaces",
                    [{"type": "pid", "path": f"/proc/{pod_pid}/ns/pid"},
                     *({"type": t} for t in ("mount", "ipc", "uts", "network"))])
        runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
        procs = f"/sys/fs/cgroup/pids/{TEST_CG_PREFIX}{cid}/cgroup.procs"
        deadline = time.monotonic() + 10
        while runcgo.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
            time.sleep(0.05)
        left = _procs(procs)
        assert len(left) == 1  # the background sleep outlived the init
        r = runcgo("kill", "--all", cid, "9")
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 10
        while _procs(procs) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _procs(procs) == []
        # a plain kill of a stopped container is still "not running" (runc: exit 1)
        r = runcgo("kill", cid, "9")
        assert r.returncode == 1 and "not running" in r.stderr
        # and --all again, with nothing left: still 0
        assert runcgo("kill", "--all", cid, "9").returncode == 0
        runcgo("delete", cid, check=True)
    finally:
        runcgo("delete", "--force", pod, check=True)
