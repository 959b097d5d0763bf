"""Network configuration lists: found by name in a directory, or the default written.

A directory holds ``*.conflist`` (a list: ``{"cniVersion", "name", "plugins":
[...]}``) and, from before spec 1.0.0, ``*.conf`` / ``*.json`` single-plugin
configs, which are read as a list of one -- as libcni and podman still do.
Files are read in name order and the first with the wanted name wins, so an
administrator can shadow a network by giving a file an earlier name.
"""

from __future__ import annotations

import os

from .. import _json as json
from .. import log
from ..errors import RuncgoError
from .request import DEFAULT_NETWORK

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_SUFFIXES = (".conflist", ".conf", ".json")
DEFAULT_BRIDGE = "runcgo0"
DEFAULT_SUBNET = "10.88.0.0/16"


class NetworkConfigError(RuncgoError):
    """A network that can't be found or whose configuration is unusable."""


def default_conflist(name: str = DEFAULT_NETWORK, bridge: str = DEFAULT_BRIDGE,
                     subnet: str = DEFAULT_SUBNET) -> dict[str, Any]:
    """The network ``runcgo0``: a bridge with NAT to the outside, leases from a
    private range, published ports, and forwarding rules that hold even when
    the host's FORWARD policy is DROP (as Docker leaves it)."""
    return {
        "cniVersion": "1.0.0",
        "name": name,
        "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": True,
             "hairpinMode": True, "capabilities": {"ips": True},
             "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
            {"type": "firewall", "backend": "iptables"},
        ],
    }


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            raw = json.loads(f.read())
    except (OSError, ValueError) as exc:
        log.debug(f"CNI config {path} skipped: {exc}")
        return None
    if not isinstance(raw, dict):
        return None
    if path.endswith(".conflist") or "plugins" in raw:
        return raw
    # A single plugin configuration: a list of one.
    plugin = {k: v for k, v in raw.items() if k not in ("cniVersion", "name")}
    return {"cniVersion": raw.get("cniVersion", "0.3.1"), "name": raw.get("name"),
            "plugins": [plugin]}


def find(conf_dir: str, name: str) -> tuple[str, dict[str, Any]] | None:
    """(file, configuration list) of the network called ``name``, or None."""
    try:
        files = sorted(f for f in os.listdir(conf_dir) if f.endswith(_SUFFIXES))
    except (FileNotFoundError, NotADirectoryError):
        return None
    for fname in files:
        path = os.path.join(conf_dir, fname)
        conf = _read(path)
        if conf is not None and conf.get("name") == name:
            return path, conf
    return None


def load(conf_dir: str, name: str) -> tuple[str, dict[str, Any]]:
    """The network called ``name``; ``runcgo0`` is written on first use if missing."""
    found = find(conf_dir, name)
    if found is None and name == DEFAULT_NETWORK:
        write_default(conf_dir)
        found = find(conf_dir, name)
    if found is None:
        raise NetworkConfigError(f"network {name!r} not found: no CNI configuration list named "
                                 f"{name!r} in {conf_dir} (set --cni-conf-dir or NETCONFPATH)")
    path, conf = found
    check(conf, path)
    return path, conf


def write_default(conf_dir: str) -> str:
    """Write ``runcgo0.conflist`` (atomically: parallel first uses race harmlessly)."""
    os.makedirs(conf_dir, mode=0o755, exist_ok=True)
    path = os.path.join(conf_dir, f"{DEFAULT_NETWORK}.conflist")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(default_conflist(), indent=2) + "\n")
    os.rename(tmp, path)
    log.debug(f"wrote the default CNI network {path}")
    return path


def check(conf: dict[str, Any], path: str) -> None:
    """What the runtime itself relies on; the plugins judge their own fields."""
    def bad(what: str) -> NetworkConfigError:
        return NetworkConfigError(f"CNI configuration {path}: {what}")

    if not isinstance(conf.get("cniVersion"), str):
        raise bad("cniVersion must be a string")
    plugins = conf.get("plugins")
    if not isinstance(plugins, list) or not plugins:
        raise bad("plugins must be a non-empty list")
    for i, p in enumerate(plugins):
        if not isinstance(p, dict) or not isinstance(p.get("type"), str) or not p["type"] \
                or "/" in p["type"] or p["type"] in (".", ".."):
            raise bad(f"plugins[{i}].type must name a plugin binary")
        caps = p.get("capabilities", {})
        if not isinstance(caps, dict):
            raise bad(f"plugins[{i}].capabilities must be an object")


def capabilities(conf: dict[str, Any]) -> set[str]:
    """Capability names some plugin of the list declares (``portMappings``, ``ips``...)."""
    out: set[str] = set()
    for p in conf.get("plugins", ()):
        out.update(k for k, v in (p.get("capabilities") or {}).items() if v)
    return out
