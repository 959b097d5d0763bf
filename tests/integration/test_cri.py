"""What Kubernetes (kubelet -> containerd's CRI plugin -> containerd-shim-runc-v2) asks of the
runtime beyond what Docker does: privileged pods list every host device, bidirectional
volumes need rshared propagation both ways, and stopping a container in a pod that shares
its pid namespace ends with ``kill --all ID 9`` after the container's init is gone.

Each test builds the config the way containerd 1.6 does for that case (seen in the
critest bench's keeplog'd config.json files) and drives the CLI as the shim does.
"""

from __future__ import annotations

import time

from harness import TEST_CG_PREFIX, Runcgo

PRIV_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETUID",
             "CAP_SETGID", "CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_SYS_CHROOT"]


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
