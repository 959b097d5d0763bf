"""``linux.netDevices``: move host network interfaces into the container's netns.

pyroute2 does the netlink work; it is imported only when a config asks for a
device (its import alone costs ~200 ms, so the usual create never pays it).
The move happens from the runtime's namespaces once the container's network
namespace exists and before the container reports ready.
"""

from __future__ import annotations

from ..errors import ConfigError, SetupError
from ..spec import LinuxNetDevice

_MAX_IFNAME = 15


def _valid_ifname(name: str) -> bool:
    return 0 < len(name) <= _MAX_IFNAME and "/" not in name and not name.isspace() and \
        name not in (".", "..") and not any(c.isspace() for c in name)


def check(devices: dict[str, LinuxNetDevice] | None, new_netns: bool) -> None:
    if not devices:
        return
    if not new_netns:
        raise ConfigError("needs a new network namespace (add {\"type\": \"network\"})",
                          "$.linux.netDevices")
    seen: set[str] = set()
    for host_name, dev in devices.items():
        where = f"$.linux.netDevices.{host_name}"
        if not _valid_ifname(host_name):
            raise ConfigError(f"{host_name!r} is not a valid interface name", where)
        target = dev.name or host_name
        if not _valid_ifname(target):
            raise ConfigError(f"{target!r} is not a valid interface name", f"{where}.name")
        if target in seen:
            raise ConfigError(f"two devices would be named {target!r}", f"{where}.name")
        seen.add(target)


def move_into(pid: int, devices: dict[str, LinuxNetDevice]) -> None:
    """Move (and rename) each host device into the network namespace of ``pid``."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        for host_name, dev in devices.items():
            found = ipr.link_lookup(ifname=host_name)
            if not found:
                raise SetupError("netDevices", host_name, 19,
                                 f"network device {host_name!r} (linux.netDevices) does not exist "
                                 "on the host")
            index = found[0]
            target = dev.name or host_name
            try:
                # Down, moved and renamed in one request, as the kernel allows.
                ipr.link("set", index=index, state="down")
                ipr.link("set", index=index, net_ns_pid=pid, ifname=target)
            except Exception as exc:  # pyroute2's NetlinkError carries the errno in .code
                code = int(getattr(exc, "code", 0) or 0)
                raise SetupError("netDevices", host_name, code,
                                 f"move network device {host_name!r} into the container as "
                                 f"{target!r}: {exc}") from None
