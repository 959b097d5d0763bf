"""Host-side checks for the CNI tests: what a network leaves on the host, and
putting back what the tests' plugins created.

Tests compare `ip -o link`, `iptables-save` and the host-local lease directory
before and after.  Rules are matched by what identifies *our* containers (the
network name the plugins write into their rule comments, our subnet), never by
a whole-table diff: other work on this machine (a CRI bench with its own CNI
bridge) may add and remove its own rules meanwhile.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import shlex
import subprocess
import uuid
from pathlib import Path
from typing import Any

# The chains the portmap and firewall plugins share between all their users.
# They are created on first use and never removed by the plugins.
SHARED_CHAINS = {
    "nat": ["CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK"],
    "filter": ["CNI-FORWARD", "CNI-ADMIN"],
}
# Ranges never to pick: the CRI bench's bridge (10.77/16) and the default network's.
_AVOID = [ipaddress.ip_network("10.77.0.0/16"), ipaddress.ip_network("10.88.0.0/16")]


def links() -> dict[str, str]:
    """name -> kind line of every link on the host."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        name = line.split(":", 2)[1].strip().split("@")[0]
        res[name] = line
    return res


def iptables() -> list[str]:
    return subprocess.run(["iptables-save"], capture_output=True, text=True,
                          check=True).stdout.splitlines()


def ours(lines: list[str], network: str, subnet: str, ids: list[str] = ()) -> list[str]:  # type: ignore[assignment]
    """The rules that belong to our network, subnet or containers."""
    net = ipaddress.ip_network(subnet)
    base = str(net.network_address).rsplit(".", 1)[0] + "."
    return [ln for ln in lines if not ln.startswith("#") and (
        names(ln, network) or base in ln or any(names(ln, i) for i in ids))]


def names(rule: str, name: str) -> bool:
    """Whether a rule's comment names ``name`` (iptables-save writes \\"name\\")."""
    return f'\\"{name}\\"' in rule or f'"{name}"' in rule


def host_subnets() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True,
                         check=True).stdout
    nets = []
    for line in out.split("\n"):
        parts = line.split()
        if "inet" in parts:
            nets.append(ipaddress.ip_interface(parts[parts.index("inet") + 1]).network)
    return nets


def free_subnet() -> str:
    """A /24 in 10.89-10.99 that no interface here uses (and not 10.77 or 10.88)."""
    used = host_subnets() + _AVOID
    for _ in range(200):
        cand = ipaddress.ip_network(f"10.{random.randint(89, 99)}.{random.randint(1, 254)}.0/24")
        if not any(cand.overlaps(u) for u in used):
            return str(cand)
    raise RuntimeError("no free /24 found")


def leases(data_dir: Path) -> list[str]:
    """host-local's lease files (one per address) under its data dir."""
    if not data_dir.exists():
        return []
    return sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*")
                  if p.is_file() and p.name not in ("lock",) and not p.name.startswith("last_reserved_ip"))


class TestNetwork:
    """A private CNI network for one test module: its own conf dir, name, bridge,
    subnet and lease dir; `close` removes the bridge and checks nothing is left."""

    def __init__(self, tmp: Path) -> None:
        tag = uuid.uuid4().hex[:6]
        self.name = f"rcgt-{tag}"
        self.bridge = f"rcgt{tag}"
        self.subnet = free_subnet()
        self.conf_dir = tmp / "net.d"
        self.data_dir = tmp / "leases"
        self.conf_dir.mkdir()
        self.before_links = set(links())
        self.before_rules = iptables()
        self.ids: list[str] = []
        self.write(self.name, self.conflist())

    def conflist(self, **bridge_edits: Any) -> dict[str, Any]:
        bridge = {"type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": True,
                  "hairpinMode": True, "capabilities": {"ips": True},
                  "ipam": {"type": "host-local", "ranges": [[{"subnet": self.subnet}]],
                           "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(self.data_dir)}}
        bridge.update(bridge_edits)
        return {"cniVersion": "1.0.0", "name": self.name, "plugins": [
            bridge,
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
            {"type": "firewall", "backend": "iptables"}]}

    def write(self, name: str, conf: dict[str, Any]) -> None:
        import json

        conf = {**conf, "name": name}
        (self.conf_dir / f"50-{name}.conflist").write_text(json.dumps(conf, indent=1))

    def flags(self, name: str | None = None) -> list[str]:
        return ["--network", name or self.name, "--cni-conf-dir", str(self.conf_dir)]

    def leftovers(self, other_networks: list[str] | None = None) -> list[str]:
        """veths, rules and leases of ours still on the host (the bridge aside)."""
        left = []
        new_links = set(links()) - self.before_links - {self.bridge}
        left += [f"link {n}" for n in sorted(new_links)]
        rules = ours(iptables(), self.name, self.subnet, self.ids)
        for n in other_networks or ():
            rules += [r for r in iptables() if names(r, n)]
        left += [f"rule {r}" for r in rules if r not in self.before_rules]
        left += [f"lease {x}" for x in leases(self.data_dir)]
        return left

    def close(self) -> None:
        delete_link(self.bridge)
        drop_unused_shared_chains(self.before_rules)


def delete_link(name: str) -> None:
    if name in links():
        subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)


def drop_unused_shared_chains(before: list[str]) -> None:
    """Remove the plugins' shared chains if they did not exist before and hold
    nothing but the plugins' own static rules (else someone else is using them)."""
    if "crib0" in links():  # the CRI bench's CNI network is up: the chains are its too
        return
    existed = {ln.split()[0][1:] for ln in before if ln.startswith(":")}
    # The plugins' own rules in them (concurrent first uses may add each twice).
    static = {"CNI-HOSTPORT-MASQ": "-j MASQUERADE", "CNI-HOSTPORT-SETMARK": "-j MARK",
              "CNI-FORWARD": "-j CNI-ADMIN"}
    now = iptables()
    ours_now = [c for cs in SHARED_CHAINS.values() for c in cs
                if c not in existed and f":{c}" in {ln.split()[0] for ln in now if ln.startswith(":")}]
    if not ours_now:
        return
    for c in ours_now:
        if any(ln.startswith(f"-A {c} ") and (c not in static or static[c] not in ln)
               for ln in now):
            return  # in use by someone: leave them all
    for table, chains in SHARED_CHAINS.items():
        mine = [c for c in chains if c in ours_now]
        for ln in now:
            args = shlex.split(ln)
            if ln.startswith("-A ") and args[1] not in mine and "-j" in args \
                    and args[args.index("-j") + 1] in mine:
                subprocess.run(["iptables", "-t", table, "-D", *args[1:]], check=False,
                               capture_output=True)
        for c in mine:
            subprocess.run(["iptables", "-t", table, "-F", c], check=False, capture_output=True)
        for c in mine:
            subprocess.run(["iptables", "-t", table, "-X", c], check=False, capture_output=True)


@contextlib.contextmanager
def ip_forward_restored() -> Any:
    """The bridge plugin (isGateway) turns on net.ipv4.ip_forward; put it back
    unless another CNI bridge appeared meanwhile (then someone needs it)."""
    path = "/proc/sys/net/ipv4/ip_forward"
    before = Path(path).read_text().strip()
    try:
        yield
    finally:
        if before == "0" and "crib0" not in links():
            with contextlib.suppress(OSError):
                Path(path).write_text("0\n")


@contextlib.contextmanager
def private_network(tmp: Path) -> Any:
    """A private CNI network for one test module (its own conf dir, bridge, subnet and
    lease dir), with ip_forward as it was; afterwards its bridge must be gone."""
    with ip_forward_restored():
        n = TestNetwork(tmp)
        try:
            yield n
        finally:
            n.close()
    assert n.bridge not in links(), f"bridge {n.bridge} left behind"


def port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    for _ in range(100):
        p = random.randint(20000, 40000)
        if port_free(p):
            return p
    raise RuntimeError("no free port")

