"""``runcgo features``: what this runtime supports, in the OCI features schema."""

from __future__ import annotations

from .kernel.capabilities import CAP_NAMES
from .kernel.mountopts import _FLAGS, _PROPAGATION
from .spec import NAMESPACE_TYPES
from .version import SPEC_VERSION

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any


def features() -> dict[str, Any]:
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": sorted(set(_FLAGS) | set(_PROPAGATION) | {"rro", "rrw"}),
        "linux": {
            "namespaces": list(NAMESPACE_TYPES),
            "capabilities": list(CAP_NAMES),
            "cgroup": {"v1": True, "v2": True, "systemd": True, "systemdUser": False},
            "seccomp": {"enabled": True},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
        },
        "annotations": {"org.opencontainers.runc.version": "runcgo"},
    }
