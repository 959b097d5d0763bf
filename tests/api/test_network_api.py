"""CNI networks through the async API: many containers attached concurrently get
distinct addresses and leave nothing behind; the handle carries the addresses;
CHECK passes on a healthy attachment.

N (the number of concurrent containers) is $RUNCGO_TEST_NET_N, else 50, or 20
when the machine is already busy (load average above its CPU count).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import anyio
import netguard  # tests/ is on sys.path (apihelpers puts it there)
import pytest

import runcgo

from apihelpers import Env

pytestmark = [pytest.mark.anyio,
              pytest.mark.skipif(not os.path.exists("/usr/lib/cni/bridge"),
                                 reason="needs containernetworking-plugins")]


def _n() -> int:
    if os.environ.get("RUNCGO_TEST_NET_N"):
        return int(os.environ["RUNCGO_TEST_NET_N"])
    return 20 if os.getloadavg()[0] > (os.cpu_count() or 1) else 50


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[netguard.TestNetwork]:
    with netguard.private_network(tmp_path_factory.mktemp("cni")) as n:
        yield n


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_many_containers_get_distinct_addresses(env: Env, net: netguard.TestNetwork) -> None:
    n = _n()
    made = [env.bundle(["sleep", "60"]) for _ in range(n)]
    net.ids += [cid for cid, _ in made]
    ips: dict[str, list[str]] = {}
    all_up = anyio.Event()

    async def one(rt: runcgo.Runtime, cid: str, bundle: str) -> None:
        async with rt.run(cid, bundle, stdio="null", network=net.name) as c:
            ips[cid] = c.ips
            if len(ips) == n:
                all_up.set()
            await all_up.wait()  # every container is attached at the same time

    async with runcgo.Runtime(root=env.root, cni_conf_dir=str(net.conf_dir)) as rt:
        with anyio.fail_after(300):
            async with anyio.create_task_group() as tg:
                for cid, bundle in made:
                    tg.start_soon(one, rt, cid, bundle)
    addresses = [a for v in ips.values() for a in v]
    assert len(addresses) == n and len(set(addresses)) == n, addresses
    assert not net.leftovers(), net.leftovers()


async def test_handle_state_check_and_publish(env: Env, net: netguard.TestNetwork) -> None:
    cid, bundle = env.bundle(["sleep", "60"])
    net.ids.append(cid)
    port = netguard.free_port()
    want = net.subnet.rsplit(".", 1)[0] + ".201"
    async with runcgo.Runtime(root=env.root, cni_conf_dir=str(net.conf_dir)) as rt:
        async with rt.run(cid, bundle, stdio="null", network=net.name,
                          publish=[f"{port}:80"], ip=want) as c:
            assert c.ips == [want]
            st = await c.state()
            assert st.network == c.network and st.network["ports"] == [f"{port}:80/tcp"]
            assert (await rt.get(cid)).ips == [want]
        # CHECK on a container without published ports: Debian's portmap 1.1.1
        # fails CHECK whenever ports are mapped on an IPv4-only network (it looks
        # for an IPv6 chain it never made: containernetworking/plugins#819).
        other, obundle = env.bundle(["sleep", "60"])
        net.ids.append(other)
        async with rt.run(other, obundle, stdio="null", network=net.name) as c:
            await c.check_network()
        with pytest.raises(ValueError):
            await rt.create("x", bundle, publish=["1:2"])
    assert not net.leftovers(), net.leftovers()


async def test_plugin_error_through_the_api(env: Env, net: netguard.TestNetwork) -> None:
    conf = net.conflist()
    conf["plugins"][1]["snat"] = "yes"
    net.write(f"{net.name}-bad", conf)
    cid, bundle = env.bundle(["true"])
    async with runcgo.Runtime(root=env.root, cni_conf_dir=str(net.conf_dir)) as rt:
        with pytest.raises(runcgo.RuncgoError, match=r"plugin portmap \(ADD\)"):
            await rt.create(cid, bundle, stdio="null", network=f"{net.name}-bad")
    assert not env.leftovers(cid)
    assert not net.leftovers([f"{net.name}-bad"]), net.leftovers([f"{net.name}-bad"])
