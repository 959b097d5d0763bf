"""linux.netDevices: a host interface moved (and renamed) into the container's netns."""

from __future__ import annotations

import contextlib
import json
import uuid

import pytest

from harness import Runcgo

pyroute2 = pytest.importorskip("pyroute2", reason="pyroute2 is a runcgo dependency")


@pytest.fixture
def dummy_link():
    """A veth pair on the host with unique names (this VM's kernel has no dummy
    driver); whatever is still there afterwards is removed."""
    name = f"rcg{uuid.uuid4().hex[:8]}"
    with pyroute2.IPRoute() as ipr:
        ipr.link("add", ifname=name, kind="veth", peer=f"{name}p")
    try:
        yield name
    finally:
        with pyroute2.IPRoute() as ipr:
            for n in (name, f"{name}p"):
                with contextlib.suppress(Exception):
                    idx = ipr.link_lookup(ifname=n)
                    if idx:
                        ipr.link("del", index=idx[0])


def test_net_device_moved_and_renamed(runcgo: Runcgo, dummy_link: str) -> None:
    cid, bundle = runcgo.bundle(["sh", "-c", "ls /sys/class/net; cat /sys/class/net/eth7/type"])
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["linux"]["netDevices"] = {dummy_link: {"name": "eth7"}}
    (bundle / "config.json").write_text(json.dumps(cfg))
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert sorted(lines[:-1]) == ["eth7", "lo"]
    assert lines[-1] == "1"  # ARPHRD_ETHER: our veth end
    with pyroute2.IPRoute() as ipr:
        assert not ipr.link_lookup(ifname=dummy_link)  # gone from the host namespace


def test_net_device_errors(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["true"], **{"linux.netDevices": {"nosuchdev0": {}}})
    r = runcgo("create", "--bundle", str(bundle), cid)
    assert r.returncode == 1 and "nosuchdev0" in r.stderr and "does not exist" in r.stderr
    assert not (runcgo.root / cid).exists()
    cid, bundle = runcgo.bundle(["true"], **{"linux.netDevices": {"x": {"name": "a/b"}}})
    r = runcgo("create", "--bundle", str(bundle), cid)
    assert r.returncode == 1 and "$.linux.netDevices.x.name" in r.stderr
