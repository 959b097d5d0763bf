"""What the user asked for: a network name, published ports, a static address."""

from __future__ import annotations

import os

from .._record import field, record
from ..errors import InvalidArgument

DEFAULT_NETWORK = "runcgo0"
DEFAULT_CONF_DIR = "/etc/cni/net.d"
DEFAULT_CNI_PATH = "/usr/lib/cni:/opt/cni/bin"  # Debian's plugins, then upstream's usual place
CONTAINER_IFNAME = "eth0"


@record
class PortMapping:
    """One ``--publish HOSTPORT:CTRPORT[/tcp|udp]``, in the portMappings convention's shape."""

    host_port: int
    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""

    def to_cni(self) -> dict[str, object]:
        d: dict[str, object] = {"hostPort": self.host_port, "containerPort": self.container_port,
                                "protocol": self.protocol}
        if self.host_ip:
            d["hostIP"] = self.host_ip
        return d

    def __str__(self) -> str:
        host = f"{self.host_ip}:" if self.host_ip else ""
        return f"{host}{self.host_port}:{self.container_port}/{self.protocol}"


@record
class NetworkRequest:
    """A container's network: resolved against ``conf_dir`` and ``cni_path`` at create."""

    name: str = DEFAULT_NETWORK
    publish: list[PortMapping] = field(default_factory=list)
    ip: str | None = None
    conf_dir: str = ""
    cni_path: str = ""

    def resolved_conf_dir(self) -> str:
        """--cni-conf-dir, else $NETCONFPATH (cnitool's name for it), else /etc/cni/net.d."""
        return self.conf_dir or os.environ.get("NETCONFPATH") or DEFAULT_CONF_DIR

    def resolved_cni_path(self) -> list[str]:
        """--cni-path, else $CNI_PATH, else Debian's and upstream's plugin directories."""
        text = self.cni_path or os.environ.get("CNI_PATH") or DEFAULT_CNI_PATH
        return [p for p in text.split(":") if p]


def _port(text: str, what: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InvalidArgument(f"--publish {spec}: {what} {text!r} is not a port number (1-65535)")
    return int(text)


def parse_publish(spec: str) -> PortMapping:
    """``[HOSTIP:]HOSTPORT:CTRPORT[/tcp|udp]`` (Docker's -p shape, without ranges)."""
    body, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"--publish {spec}: protocol must be tcp, udp or sctp, not {proto!r}")
    parts = body.rsplit(":", 2)
    if len(parts) < 2:
        raise InvalidArgument(f"--publish {spec}: want HOSTPORT:CTRPORT[/tcp|udp]")
    host_ip = parts[0] if len(parts) == 3 else ""
    if host_ip:
        check_address(host_ip, f"--publish {spec}")
    return PortMapping(host_port=_port(parts[-2], "host port", spec),
                       container_port=_port(parts[-1], "container port", spec),
                       protocol=proto, host_ip=host_ip)


def check_address(text: str, what: str) -> None:
    """An IPv4 or IPv6 address (no prefix), checked without importing ipaddress."""
    import socket

    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, text)
            return
        except OSError:
            continue
    raise InvalidArgument(f"{what}: {text!r} is not an IP address")


def check_name(name: str) -> None:
    """The spec's rule for network names (and what makes a safe file name)."""
    ok = bool(name) and name[0].isascii() and name[0].isalnum() and all(
        c.isascii() and (c.isalnum() or c in "_.-") for c in name)
    if not ok:
        raise InvalidArgument(f"--network {name!r}: a network name starts with a letter or digit "
                              "and has only letters, digits, '_', '.' and '-'")
