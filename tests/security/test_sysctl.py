"""linux.sysctl must never change the host: a sysctl the container's namespaces do
not isolate is refused before anything is created (runc's rule and wording), keys
cannot climb out of /proc/sys, and the write inside the container is not redirected
by symlinks or mounts planted under /proc/sys.

Each test reads the host's value before and after (and puts it back if a broken
build changed it), and checks nothing is left behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import TEST_CG_PREFIX, Runcgo

ALL_NS = ["pid", "network", "ipc", "uts", "mount"]


def host_value(key: str) -> str:
    with open("/proc/sys/" + key.replace(".", "/")) as f:
        return f.read()


@pytest.fixture
def host_sysctls() -> Iterator[dict[str, str]]:
    """The host values of the sysctls these tests aim at, restored if one changed."""
    keys = ("kernel.printk_ratelimit", "net.ipv4.ip_forward", "kernel.shmmni",
            "kernel.domainname", "fs.mqueue.msg_max")
    before = {k: host_value(k) for k in keys}
    yield before
    changed = {k: v for k, v in before.items() if host_value(k) != v}
    for k, v in changed.items():
        with open("/proc/sys/" + k.replace(".", "/"), "w") as f:
            f.write(v)
    assert not changed, f"host sysctls changed: {changed}"


def bundle_with(runcgo: Runcgo, sysctl: dict[str, str], namespaces: list[Any],
                args: list[str] | None = None, **top: Any) -> tuple[str, Path]:
    cid, bundle = runcgo.bundle(args or ["true"])
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["linux"]["sysctl"] = sysctl
    cfg["linux"]["namespaces"] = [n if isinstance(n, dict) else {"type": n} for n in namespaces]
    cfg.pop("hostname", None)  # (kernel.hostname is refused even without it, as in runc)
    for k, v in top.items():
        if v is ...:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    (bundle / "config.json").write_text(json.dumps(cfg))
    return cid, bundle


def refused(runcgo: Runcgo, cid: str, bundle: Path, message: str, cmd: str = "run") -> None:
    r = runcgo(cmd, "--bundle", str(bundle), cid)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert message in lines[0], (message, lines[0])
    assert not (runcgo.root / cid).exists(), "state dir left behind"
    for ctrl in os.listdir("/sys/fs/cgroup"):
        assert not os.path.exists(f"/sys/fs/cgroup/{ctrl}/{TEST_CG_PREFIX}{cid}"), "cgroup left"
    # (only this container's: other work on the host may mount and unmount meanwhile)
    with open("/proc/self/mountinfo") as f:
        text = f.read()
    assert cid not in text and str(bundle) not in text, "mount left behind"


@pytest.mark.parametrize("key, namespaces, message", [
    ("kernel.printk_ratelimit", ALL_NS,
     'sysctl "kernel.printk_ratelimit" is not in a separate kernel namespace'),
    ("user.max_user_namespaces", ALL_NS,
     'sysctl "user.max_user_namespaces" is not in a separate kernel namespace'),
    ("fs.mqueue", ALL_NS, 'sysctl "fs.mqueue" is not in a separate kernel namespace'),
    ("net.ipv4.ip_forward", ["pid", "ipc", "uts", "mount"],
     'sysctl "net.ipv4.ip_forward" not allowed in host network namespace'),
    ("net.ipv4.ip_forward", ["pid", {"type": "network", "path": "/proc/self/ns/net"}, "mount"],
     'sysctl "net.ipv4.ip_forward" not allowed in host network namespace'),
    ("net.ipv4.ip_forward", ["pid", {"type": "network", "path": "/nonexistent/netns"}, "mount"],
     "invalid netns path: stat /nonexistent/netns: no such file or directory"),
    ("kernel.shmmni", ["pid", "network", "uts", "mount"],
     'sysctl "kernel.shmmni" is not allowed in the hosts ipc namespace'),
    ("fs.mqueue.msg_max", ["pid", "network", "uts", "mount"],
     'sysctl "fs.mqueue.msg_max" is not allowed in the hosts ipc namespace'),
    ("kernel.domainname", ["pid", "network", "ipc", "mount"],
     'sysctl "kernel.domainname" is not in a separate kernel namespace'),
    ("kernel.hostname", ALL_NS,
     'sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field'),
    # keys that would leave /proc/sys once dots become slashes
    ("net.ipv4/../../kernel/printk_ratelimit", ALL_NS, "is not a valid name"),
    ("net.ipv4..kernel.printk_ratelimit", ALL_NS, "is not a valid name"),
    ("net/ipv4/ip_forward", ALL_NS, "is not a valid name"),
    (".net.ipv4.ip_forward", ALL_NS, "is not a valid name"),
    ("", ALL_NS, "is not a valid name"),
])
@pytest.mark.parametrize("cmd", ["run", "create"])
def test_non_namespaced_sysctl_refused_before_anything(runcgo: Runcgo, host_sysctls: dict[str, str],
                                                       key: str, namespaces: list[Any],
                                                       message: str, cmd: str) -> None:
    cid, bundle = bundle_with(runcgo, {key: "6"}, namespaces)
    refused(runcgo, cid, bundle, message, cmd)


def test_namespaced_sysctls_are_set_in_the_container(runcgo: Runcgo,
                                                     host_sysctls: dict[str, str]) -> None:
    want = {"net.ipv4.ip_forward": "1" if host_sysctls["net.ipv4.ip_forward"].strip() == "0" else "0",
            "kernel.shmmni": "4001", "fs.mqueue.msg_max": "17", "kernel.domainname": "wta.example"}
    show = "; ".join(f"cat /proc/sys/{k.replace('.', '/')}" for k in want)
    cid, bundle = bundle_with(runcgo, want, ALL_NS, ["sh", "-c", show])
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.split() == list(want.values())


def test_sysctl_in_a_joined_netns_that_is_not_the_hosts(runcgo: Runcgo, tmp_path: Path,
                                                        host_sysctls: dict[str, str]) -> None:
    """runc allows net.* when the netns path is another namespace than ours."""
    holder_id, holder = runcgo.bundle(["sleep", "60"])
    runcgo("run", "-d", "--bundle", str(holder), holder_id, check=True)
    netns = f"/proc/{runcgo.state(holder_id)['pid']}/ns/net"
    cid, bundle = bundle_with(runcgo, {"net.ipv4.ip_forward": "1"},
                              ["pid", {"type": "network", "path": netns}, "mount"],
                              ["cat", "/proc/sys/net/ipv4/ip_forward"])
    r = runcgo("run", "--bundle", str(bundle), cid)
    runcgo("delete", "--force", holder_id)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


def test_write_is_not_redirected_by_a_mount_under_proc_sys(runcgo: Runcgo, tmp_path: Path,
                                                           host_sysctls: dict[str, str]) -> None:
    """A bind mount over /proc/sys/net/ipv4 holding a symlink named ip_forward
    (pointing at a file the writer should never touch) must not receive the write:
    the sysctl is opened beneath /proc/sys without symlinks or mount crossings."""
    trap = tmp_path / "trap"
    trap.mkdir()
    os.symlink("/victim", trap / "ip_forward")
    cid, bundle = bundle_with(runcgo, {"net.ipv4.ip_forward": "1"}, ALL_NS)
    victim = bundle / "rootfs" / "victim"  # what a followed symlink would reach, writable
    victim.write_text("untouched\n")
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["root"]["readonly"] = False
    cfg["mounts"].append({"destination": "/proc/sys/net/ipv4", "type": "bind",
                          "source": str(trap), "options": ["rbind"]})
    (bundle / "config.json").write_text(json.dumps(cfg))
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert victim.read_text() == "untouched\n"
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "write sysctl net.ipv4.ip_forward=1" in lines[0], r.stderr
    assert not (runcgo.root / cid).exists()
