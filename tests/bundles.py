"""Build OCI bundles from busybox-static for tests, benchmarks and the demo.

The rootfs is one static binary plus relative applet symlinks (so the tree
is self-contained), /etc/passwd + group with root and uid 1000, and empty
mount points.  The config comes from ``runcgo spec``'s default.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

BUSYBOX = shutil.which("busybox", path="/bin:/usr/bin:/usr/local/bin") or "/bin/busybox"
_CACHE = "/var/cache/runcgo-test/rootfs"


def make_rootfs(dest: str) -> str:
    """A busybox rootfs at ``dest`` (copied from a cached template)."""
    if not os.path.isdir(_CACHE):
        tmp = f"{_CACHE}.{os.getpid()}"
        _build(tmp)
        os.makedirs(os.path.dirname(_CACHE), exist_ok=True)
        try:
            os.rename(tmp, _CACHE)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(["cp", "-a", _CACHE, dest], check=True)
    return dest


def _build(root: str) -> None:
    for d in ("bin", "proc", "sys", "dev", "etc", "tmp", "root", "home/user", "var", "run"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(root, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    for name in applets:
        link = os.path.join(root, "bin", name)
        if name != "busybox" and not os.path.lexists(link):
            os.symlink("busybox", link)
    with open(os.path.join(root, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
                "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    with open(os.path.join(root, "etc", "group"), "w") as f:
        f.write("root:x:0:\nuser:x:1000:\ntty:x:5:\nnogroup:x:65534:\n")
    os.chown(os.path.join(root, "home", "user"), 1000, 1000)


def default_config(runtime: list[str] | None = None) -> dict[str, Any]:
    """``runcgo spec`` output as a dict."""
    from runcgo.spec import default_spec

    del runtime
    return default_spec()


def make_bundle(dest: str, args: list[str] | None = None, **overrides: Any) -> str:
    """A bundle dir with rootfs/ and config.json (terminal off, cgroup under a test prefix)."""
    os.makedirs(dest, exist_ok=True)
    make_rootfs(os.path.join(dest, "rootfs"))
    cfg = default_config()
    cfg["process"]["terminal"] = False
    # runc's default has no cgroup namespace; the tests want the isolation
    # Docker and Kubernetes use on cgroup v2 (and exercise it on every run).
    cfg["linux"]["namespaces"].append({"type": "cgroup"})
    if args:
        cfg["process"]["args"] = args
    for k, v in overrides.items():
        cfg[k] = v
    write_config(dest, cfg)
    return dest


def shared_rootfs_bundle(path: str, rootfs: str, args: list[str], cgroups_path: str,
                         env: list[str] | None = None) -> dict[str, Any]:
    """A bundle dir at ``path`` whose config points at a rootfs shared by many
    bundles (one busybox tree for hundreds of containers); returns the config."""
    os.makedirs(path, exist_ok=True)
    cfg = default_config()
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = args
    if env is not None:
        cfg["process"]["env"] = env
    cfg["root"] = {"path": rootfs, "readonly": False}
    cfg["linux"]["cgroupsPath"] = cgroups_path
    write_config(path, cfg)
    return cfg


def write_config(bundle: str, cfg: dict[str, Any]) -> None:
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)


if __name__ == "__main__":
    make_bundle(sys.argv[1], sys.argv[2:] or None)
    print(sys.argv[1])
