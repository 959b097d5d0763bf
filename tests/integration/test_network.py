"""CNI networks from the CLI: containers reach each other, ports are published,
and every exit path (delete, delete --force, damaged state, a failing plugin)
leaves no veth, lease or iptables rule behind.

Traffic stays on this machine: between namespaces on bridges these tests make,
and from the host to 127.0.0.1.  Each module uses its own conf dir, network
name, bridge, subnet and lease dir (tests/netguard.py), except the default
network test, which lets runcgo write `runcgo0` into a private conf dir and
removes the bridge and lease dir afterwards if they were not there before.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import netguard
import pytest

from harness import IS_ROOT, Runcgo

pytestmark = pytest.mark.skipif(not (IS_ROOT and os.path.exists("/usr/lib/cni/bridge")),
                                reason="needs root and containernetworking-plugins")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[netguard.TestNetwork]:
    with netguard.private_network(tmp_path_factory.mktemp("cni")) as n:
        yield n


def _caps(rc: Runcgo, bundle: Path, *extra: str) -> None:
    cfg = json.loads((bundle / "config.json").read_text())
    for key in ("bounding", "effective", "permitted"):
        cfg["process"]["capabilities"][key] += list(extra)
    (bundle / "config.json").write_text(json.dumps(cfg))


def _addr(state: dict) -> str:  # type: ignore[type-arg]
    return str(state["network"]["addresses"][0].split("/")[0])


def test_two_containers_on_the_default_network_ping_each_other(runcgo: Runcgo,
                                                               tmp_path: Path) -> None:
    conf_dir = tmp_path / "net.d"  # runcgo writes runcgo0.conflist here on first use
    lease_dir = Path("/var/lib/cni/networks/runcgo0")
    bridge_before = "runcgo0" in netguard.links()
    leases_before = netguard.leases(lease_dir)
    lease_dir_before = lease_dir.exists()
    lease_parent_before = lease_dir.parent.exists()
    links_before = set(netguard.links())
    rules_before = netguard.iptables()
    flags = ["--network", "runcgo0", "--cni-conf-dir", str(conf_dir)]
    with netguard.ip_forward_restored():
        try:
            a, ba = runcgo.bundle(["sleep", "60"])
            runcgo("create", *flags, "-b", str(ba), a, check=True)
            written = json.loads((conf_dir / "runcgo0.conflist").read_text())
            assert [p["type"] for p in written["plugins"]] == ["bridge", "portmap", "firewall"]
            runcgo("start", a, check=True)
            ip_a = _addr(runcgo.state(a))
            assert ip_a.startswith("10.88.")
            b, bb = runcgo.bundle(["ping", "-c", "1", "-W", "5", ip_a])
            _caps(runcgo, bb, "CAP_NET_RAW")
            r = runcgo("run", *flags, "-b", str(bb), b)
            assert r.returncode == 0, r.stdout + r.stderr
            assert "1 packets received" in r.stdout
            runcgo("delete", "--force", a, check=True)
            new_links = set(netguard.links()) - links_before - {"runcgo0"}
            assert not new_links, new_links
            rules = [x for x in netguard.ours(netguard.iptables(), "runcgo0", "10.88.0.0/16",
                                              [a, b]) if x not in rules_before]
            assert not rules, rules
            assert netguard.leases(lease_dir) == leases_before
        finally:
            if not bridge_before:
                netguard.delete_link("runcgo0")
            if not lease_dir_before:
                shutil.rmtree(lease_dir, ignore_errors=True)
            if not lease_parent_before:
                with contextlib.suppress(OSError):
                    lease_dir.parent.rmdir()  # only if empty: it may be someone else's now
            netguard.drop_unused_shared_chains(rules_before)


def _http_get(port: int, timeout: float = 10.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
                if data:
                    return data
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing answered on 127.0.0.1:{port}")
        time.sleep(0.1)


def test_published_port_answers_from_the_host(runcgo: Runcgo, net: netguard.TestNetwork) -> None:
    port = netguard.free_port()
    cid, bundle = runcgo.bundle(["sh", "-c", "mkdir -p /www && echo hello-from-runcgo > "
                                 "/www/index.html && exec httpd -f -p 80 -h /www"],
                                 **{"root.readonly": False})
    net.ids.append(cid)
    runcgo("run", "-d", *net.flags(), "--publish", f"{port}:80/tcp", "-b", str(bundle), cid,
           check=True)
    st = runcgo.state(cid)
    assert st["network"]["ports"] == [f"{port}:80/tcp"]
    assert st["ociVersion"] and st["status"] == "running"  # the OCI fields are all there
    reply = _http_get(port)
    assert b"200 OK" in reply and b"hello-from-runcgo" in reply
    assert any(netguard.names(r, cid) for r in netguard.iptables())
    runcgo("delete", "--force", cid, check=True)
    assert not net.leftovers(), net.leftovers()
    with pytest.raises(AssertionError):
        _http_get(port, timeout=0.5)


def test_static_ip_and_foreground_run_cleans_up(runcgo: Runcgo, net: netguard.TestNetwork) -> None:
    want = net.subnet.rsplit(".", 1)[0] + ".77"
    cid, bundle = runcgo.bundle(["sh", "-c", "ip -o -4 addr show eth0; exit 3"])
    net.ids.append(cid)
    r = runcgo("run", *net.flags(), "--ip", want, "-b", str(bundle), cid)
    assert r.returncode == 3, r.stderr
    assert f"inet {want}/24" in r.stdout
    assert not net.leftovers(), net.leftovers()


def test_created_container_deleted_by_force_and_damaged_state(runcgo: Runcgo,
                                                             net: netguard.TestNetwork) -> None:
    a, ba = runcgo.bundle(["sleep", "60"])
    b, bb = runcgo.bundle(["sleep", "60"])
    net.ids += [a, b]
    runcgo("create", *net.flags(), "-b", str(ba), a, check=True)
    runcgo("create", *net.flags(), "-b", str(bb), b, check=True)
    assert _addr(runcgo.state(a)) != _addr(runcgo.state(b))
    assert len(netguard.leases(net.data_dir)) == 2
    runcgo("delete", "--force", a, check=True)  # never started
    (runcgo.root / b / "state.json").unlink()   # a runtime killed mid-create, say
    r = runcgo("delete", "--force", b, check=True)
    assert "ran CNI DEL" in r.stderr
    assert not net.leftovers(), net.leftovers()


def test_bad_plugin_config_is_one_line_and_leaves_nothing(runcgo: Runcgo,
                                                          net: netguard.TestNetwork) -> None:
    conf = net.conflist()
    conf["plugins"][1]["snat"] = "yes"  # portmap wants a boolean: fails after the bridge's ADD
    net.write(f"{net.name}-bad", conf)
    cid, bundle = runcgo.bundle(["true"])
    net.ids.append(cid)
    r = runcgo("run", *net.flags(f"{net.name}-bad"), "-b", str(bundle), cid)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"runcgo: run failed: network {net.name}-bad: plugin portmap (ADD): ")
    assert not (runcgo.root / cid).exists()
    assert not net.leftovers([f"{net.name}-bad"]), net.leftovers([f"{net.name}-bad"])


@pytest.mark.parametrize("args, words", [
    (["--network", "no-such-net"], "network 'no-such-net' not found"),
    (["--publish", "8080:80"], "--publish needs --network NAME"),
    (["--network", "NET", "--publish", "80"], "want HOSTPORT:CTRPORT"),
    (["--network", "NET", "--publish", "1:99999"], "is not a port number"),
    (["--network", "NET", "--ip", "10.1"], "is not an IP address"),
    (["--network", "NET-noports", "--publish", "8080:80"], "cannot publish ports"),
    (["--network", "NET-noplugin"], "plugin no-such-plugin (lookup): no executable"),
])
def test_mistakes_are_one_line_before_anything_is_made(runcgo: Runcgo, net: netguard.TestNetwork,
                                                       args: list[str], words: str) -> None:
    only_bridge = net.conflist()
    only_bridge["plugins"] = only_bridge["plugins"][:1]
    net.write(f"{net.name}-noports", only_bridge)
    net.write(f"{net.name}-noplugin", {**only_bridge, "plugins": [{"type": "no-such-plugin"}]})
    cid, bundle = runcgo.bundle(["true"])
    args = [a.replace("NET", net.name) for a in args]
    r = runcgo("run", "--cni-conf-dir", str(net.conf_dir), *args, "-b", str(bundle), cid)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1 and words in r.stderr, r.stderr
    assert not (runcgo.root / cid).exists()
    assert not net.leftovers(), net.leftovers()


def test_failure_after_add_runs_del(runcgo: Runcgo, net: netguard.TestNetwork) -> None:
    """ADD succeeded, then a prestart hook fails: create undoes the attachment too."""
    cid, bundle = runcgo.bundle(["true"], **{"hooks.prestart": [{"path": "/bin/false"}]})
    net.ids.append(cid)
    r = runcgo("create", *net.flags(), "--publish", f"{netguard.free_port()}:80", "-b",
               str(bundle), cid)
    assert r.returncode != 0 and "prestart" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (runcgo.root / cid).exists()
    assert not net.leftovers(), net.leftovers()


def test_user_namespace_container(runcgo: Runcgo, net: netguard.TestNetwork) -> None:
    """The namespace belongs to the container's user namespace; the plugins (host
    root) configure it all the same."""
    from harness import into_userns

    cid, bundle = runcgo.bundle(["sh", "-c", "ip -o -4 addr show eth0"])
    into_userns(bundle)
    net.ids.append(cid)
    r = runcgo("run", *net.flags(), "-b", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert f"inet {net.subnet.rsplit('.', 1)[0]}." in r.stdout
    assert not net.leftovers(), net.leftovers()


def test_runtime_killed_during_add(runcgo: Runcgo, net: netguard.TestNetwork,
                                   tmp_path: Path) -> None:
    """SIGKILL the runtime while a plugin runs ADD: the plugin dies with it, and
    `delete --force` runs DEL from the record written before ADD began."""
    import signal
    import subprocess

    from harness import runcgo_cmd

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    marker = tmp_path / "slow.pid"
    slow = plugins / "slow"
    slow.write_text(f'#!/bin/sh\n[ "$CNI_COMMAND" = ADD ] || exit 0\necho $$ > {marker}\n'
                    "exec sleep 60\n")
    slow.chmod(0o755)
    conf = net.conflist()
    conf["plugins"].insert(1, {"type": "slow"})  # after the bridge's ADD
    net.write(f"{net.name}-slow", conf)
    cid, bundle = runcgo.bundle(["true"])
    net.ids.append(cid)
    proc = subprocess.Popen([*runcgo_cmd(), "--root", str(runcgo.root), "create",
                             *net.flags(f"{net.name}-slow"), "--cni-path",
                             f"{plugins}:/usr/lib/cni", "-b", str(bundle), cid],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not marker.exists() or not marker.read_text().strip():
        assert time.monotonic() < deadline and proc.poll() is None, "ADD never reached the plugin"
        time.sleep(0.05)
    slow_pid = int(marker.read_text())
    assert len(netguard.leases(net.data_dir)) == 1  # the bridge's ADD is done
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for _ in range(100):  # PDEATHSIG: the plugin goes with the runtime
        if not os.path.exists(f"/proc/{slow_pid}"):
            break
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{slow_pid}")
    r = runcgo("delete", "--force", cid, check=True)
    assert "ran CNI DEL" in r.stderr, r.stderr
    assert not (runcgo.root / cid).exists()
    assert not net.leftovers([f"{net.name}-slow"]), net.leftovers([f"{net.name}-slow"])


def test_state_matches_the_namespace(runcgo: Runcgo, net: netguard.TestNetwork) -> None:
    """What `state` reports (from the stored ADD result) is what the kernel has:
    read the pinned namespace with pyroute2."""
    pyroute2 = pytest.importorskip("pyroute2")
    cid, bundle = runcgo.bundle(["sleep", "60"])
    net.ids.append(cid)
    runcgo("create", *net.flags(), "-b", str(bundle), cid, check=True)
    st = runcgo.state(cid)["network"]
    pinned = runcgo.root / cid / "netns"
    with pyroute2.NetNS(str(pinned)) as ns:
        idx = ns.link_lookup(ifname="eth0")[0]
        link = ns.get_links(idx)[0]
        addrs = [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
                 for a in ns.get_addr(index=idx, family=socket.AF_INET)]
    assert addrs == st["addresses"]
    assert link.get_attr("IFLA_ADDRESS") == st["mac"]
    runcgo("delete", "--force", cid, check=True)
    assert not pinned.exists() and not net.leftovers(), net.leftovers()
