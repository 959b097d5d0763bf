"""``runcgo features``: what this runtime supports, in the OCI features schema."""

from __future__ import annotations

from .kernel.capabilities import CAP_NAMES
from .kernel.mountopts import _FLAGS, _PROPAGATION
from .spec import NAMESPACE_TYPES
from .version import SPEC_VERSION

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any


def _idmap_supported() -> bool:
    """Idmapped bind mounts (kernel/idmapmount.py) need mount_setattr(MOUNT_ATTR_IDMAP):
    Linux 5.12 (ext4, xfs, btrfs...; tmpfs from 6.3).  Whether a given filesystem
    takes it is only known when a mount is made (EINVAL then, with its name)."""
    import os

    try:
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (5, 12)


def features() -> dict[str, Any]:
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": sorted(set(_FLAGS) | set(_PROPAGATION) | {"rro", "rrw", "idmap", "ridmap"}),
        "linux": {
            "namespaces": list(NAMESPACE_TYPES),
            "capabilities": list(CAP_NAMES),
            "cgroup": {"v1": True, "v2": True, "systemd": True, "systemdUser": False},
            "seccomp": {"enabled": True},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": _idmap_supported()}},
        },
        "annotations": {"org.opencontainers.runc.version": "runcgo"},
    }
