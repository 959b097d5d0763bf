"""What ``state`` and the API show of an attachment: read from the stored ADD result.

The result already says which addresses the plugins gave the container's
interface; reading it costs nothing, whereas asking the kernel (netlink through
pyroute2) would add ~200 ms of import to every ``state`` call.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def summarize(network: str, ifname: str, result: dict[str, Any] | None,
              ports: list[str]) -> dict[str, Any]:
    """``{"name", "interface", "mac", "addresses": ["10.88.0.5/16"], "gateways", "ports"}``."""
    out: dict[str, Any] = {"name": network, "interface": ifname, "addresses": [],
                           "ports": list(ports)}
    if not result:
        return out
    interfaces = result.get("interfaces") or []
    inside = {i for i, itf in enumerate(interfaces)
              if isinstance(itf, dict) and itf.get("sandbox")}
    gateways: list[str] = []
    for ip in result.get("ips") or ():
        if not isinstance(ip, dict) or not isinstance(ip.get("address"), str):
            continue
        idx = ip.get("interface")
        # No index (an IPAM-only chain) or one that points into the container: ours.
        if idx is None or idx in inside or not inside:
            out["addresses"].append(ip["address"])
            if isinstance(ip.get("gateway"), str):
                gateways.append(ip["gateway"])
    for i in sorted(inside):
        itf = interfaces[i]
        if itf.get("name") == ifname and itf.get("mac"):
            out["mac"] = itf["mac"]
    if gateways:
        out["gateways"] = gateways
    return out


def bare_ips(summary: dict[str, Any]) -> list[str]:
    """The addresses without their prefix length: what a client connects to."""
    return [a.split("/", 1)[0] for a in summary.get("addresses") or ()]
