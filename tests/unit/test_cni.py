"""The CNI protocol as runcgo speaks it, against fake plugins (no root, no network):
environment, execution configuration (cniVersion/name inserted, capabilities turned
into runtimeConfig, prevResult chaining), DEL in reverse with the final ADD result,
CHECK rules, errors verbatim on one line; --publish parsing; finding conf lists."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from runcgo.errors import InvalidArgument
from runcgo.net import attachment as A
from runcgo.net import conflist as C
from runcgo.net.plugin import PluginError
from runcgo.net.request import check_name, parse_publish
from runcgo.net.summary import bare_ips, summarize

_FAKE = r'''#!{python}
import json, os, sys
cfg = json.loads(sys.stdin.read() or "{{}}")
name = os.path.basename(sys.argv[0])
with open({log!r}, "a") as f:
    f.write(json.dumps({{"plugin": name, "env": dict(os.environ), "cfg": cfg}}) + "\n")
how = cfg.get("fake", {{}})
if os.environ["CNI_COMMAND"] in how.get("fail_on", []):
    print(json.dumps(how["error"])) if "error" in how else sys.stderr.write(how["stderr"])
    sys.exit(1)
if os.environ["CNI_COMMAND"] == "ADD":
    res = cfg.get("prevResult") or {{"cniVersion": cfg["cniVersion"], "interfaces": [], "ips": []}}
    res = dict(res)
    res["interfaces"] = res["interfaces"] + how.get("interfaces", [])
    res["ips"] = res["ips"] + how.get("ips", [])
    print(json.dumps(res))
'''


@pytest.fixture
def fake(tmp_path: Path) -> tuple[Path, Path]:
    """(plugin dir with plugins `fa`, `fb`, `fc`, log file of every invocation)."""
    bindir, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    bindir.mkdir()
    for name in ("fa", "fb", "fc"):
        p = bindir / name
        p.write_text(_FAKE.format(python=sys.executable, log=str(log)))
        p.chmod(0o755)
    return bindir, log


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


def att(bindir: Path, plugins: list[dict[str, Any]], **kw: Any) -> A.Attachment:
    conf = {"cniVersion": kw.pop("version", "1.0.0"), "name": "testnet", "plugins": plugins,
            **kw.pop("extra", {})}
    return A.Attachment(container_id="c1", netns="/run/x/netns", ifname="eth0", conf=conf,
                        cni_path=[str(bindir)], **kw)


ITF = {"name": "eth0", "mac": "aa:bb:cc:dd:ee:ff", "sandbox": "/run/x/netns"}
IP = {"address": "10.9.0.5/24", "gateway": "10.9.0.1", "interface": 1}


def test_add_chains_results_and_derives_runtime_config(fake: tuple[Path, Path]) -> None:
    bindir, log = fake
    a = att(bindir, [
        {"type": "fa", "capabilities": {"portMappings": True}, "keep": [1, 2],
         "fake": {"interfaces": [{"name": "br0"}, ITF], "ips": [IP]}},
        {"type": "fb", "capabilities": {"ips": True}},
    ], capability_args={"portMappings": [{"hostPort": 8080, "containerPort": 80,
                                          "protocol": "tcp"}]}, cni_args="IgnoreUnknown=1")
    result = A.add(a)
    (first, second) = calls(log)
    for c in (first, second):
        env = c["env"]
        assert (env["CNI_COMMAND"], env["CNI_CONTAINERID"], env["CNI_NETNS"], env["CNI_IFNAME"],
                env["CNI_PATH"], env["CNI_ARGS"]) == ("ADD", "c1", "/run/x/netns", "eth0",
                                                       str(bindir), "IgnoreUnknown=1")
        assert c["cfg"]["cniVersion"] == "1.0.0" and c["cfg"]["name"] == "testnet"
        assert "capabilities" not in c["cfg"]
    assert first["cfg"]["runtimeConfig"] == {"portMappings": [
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}
    assert first["cfg"]["keep"] == [1, 2] and "prevResult" not in first["cfg"]
    assert "runtimeConfig" not in second["cfg"]  # declares ips, but none were asked for
    assert second["cfg"]["prevResult"]["ips"] == [IP]
    assert result == a.result and result["ips"] == [IP]
    s = summarize("testnet", "eth0", result, ["8080:80/tcp"])
    assert s["addresses"] == ["10.9.0.5/24"] and s["mac"] == ITF["mac"]
    assert s["gateways"] == ["10.9.0.1"] and bare_ips(s) == ["10.9.0.5"]


def test_del_runs_in_reverse_with_the_add_result_and_past_failures(fake: tuple[Path, Path]) -> None:
    bindir, log = fake
    a = att(bindir, [{"type": "fa"},
                     {"type": "fb", "fake": {"fail_on": ["DEL"], "error": {
                         "cniVersion": "1.0.0", "code": 11, "msg": "busy",
                         "details": "try\nlater"}}},
                     {"type": "fc"}])
    a.result = {"cniVersion": "1.0.0", "ips": [IP], "interfaces": [{}, ITF]}
    err = A.delete(a)
    assert [c["plugin"] for c in calls(log)] == ["fc", "fb", "fa"]
    assert all(c["cfg"]["prevResult"] == a.result for c in calls(log))
    assert err is not None and str(err) == "network testnet: plugin fb (DEL): busy: try later"
    assert err.code == 11


def test_del_without_a_netns_file_leaves_cni_netns_out(fake: tuple[Path, Path]) -> None:
    bindir, log = fake
    assert A.delete(att(bindir, [{"type": "fa"}])) is None
    assert "CNI_NETNS" not in calls(log)[0]["env"]  # /run/x/netns does not exist
    assert "prevResult" not in calls(log)[0]["cfg"]  # an ADD that never finished


@pytest.mark.parametrize("version, extra, runs", [
    ("1.0.0", {}, True), ("0.4.0", {}, True), ("0.3.1", {}, False),
    ("1.0.0", {"disableCheck": True}, False)])
def test_check_rules(fake: tuple[Path, Path], version: str, extra: dict[str, Any],
                     runs: bool) -> None:
    bindir, log = fake
    a = att(bindir, [{"type": "fa"}, {"type": "fb"}], version=version, extra=extra)
    a.result = {"cniVersion": version, "ips": []}
    A.check(a)
    assert [c["env"]["CNI_COMMAND"] for c in calls(log)] == (["CHECK", "CHECK"] if runs else [])


def test_add_error_verbatim_and_stderr_fallback(fake: tuple[Path, Path]) -> None:
    bindir, log = fake
    bad = {"fail_on": ["ADD"], "error": {"cniVersion": "1.0.0", "code": 7,
                                         "msg": "Invalid Configuration",
                                         "details": "Network 192.168.0.0/31 too small\nto allocate from."}}
    with pytest.raises(PluginError) as e:
        A.add(att(bindir, [{"type": "fa"}, {"type": "fb", "fake": bad}, {"type": "fc"}]))
    assert str(e.value) == ("network testnet: plugin fb (ADD): Invalid Configuration: "
                            "Network 192.168.0.0/31 too small to allocate from.")
    assert [c["plugin"] for c in calls(log)] == ["fa", "fb"]  # halted at the failure
    with pytest.raises(PluginError, match=r"plugin fa \(ADD\): it broke badly$"):
        A.add(att(bindir, [{"type": "fa", "fake": {"fail_on": ["ADD"],
                                                   "stderr": "it broke\nbadly\n"}}]))


def test_missing_plugin_is_found_before_anything_runs(fake: tuple[Path, Path]) -> None:
    bindir, log = fake
    with pytest.raises(PluginError, match=r"plugin nope \(lookup\): no executable 'nope' in "):
        A.add(att(bindir, [{"type": "fa"}, {"type": "nope"}]))
    assert calls(log) == []


@pytest.mark.parametrize("text, want", [
    ("8080:80", ("", 8080, 80, "tcp")), ("53:53/udp", ("", 53, 53, "udp")),
    ("127.0.0.1:8080:80/tcp", ("127.0.0.1", 8080, 80, "tcp")),
    ("::1:8080:80", ("::1", 8080, 80, "tcp"))])
def test_publish(text: str, want: tuple[str, int, int, str]) -> None:
    p = parse_publish(text)
    assert (p.host_ip, p.host_port, p.container_port, p.protocol) == want


@pytest.mark.parametrize("text", ["80", "0:80", "8080:70000", "a:b", "8080:80/icmp",
                                  "1.2.3:8080:80"])
def test_bad_publish(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_publish(text)


def test_network_names() -> None:
    check_name("runcgo0")
    check_name("a.b_c-d")
    for bad in ("", "-x", "../x", "a/b", "é"):
        with pytest.raises(InvalidArgument):
            check_name(bad)


def test_conflists_found_by_name_in_file_order(tmp_path: Path) -> None:
    (tmp_path / "10-a.conflist").write_text(json.dumps(
        {"cniVersion": "1.0.0", "name": "one", "plugins": [{"type": "bridge"}]}))
    (tmp_path / "20-b.conflist").write_text(json.dumps(
        {"cniVersion": "1.0.0", "name": "one", "plugins": [{"type": "macvlan"}]}))
    (tmp_path / "30-c.conf").write_text(json.dumps(
        {"cniVersion": "0.4.0", "name": "old", "type": "ptp", "ipam": {}}))
    (tmp_path / "40-broken.conflist").write_text("{")
    assert C.load(str(tmp_path), "one")[1]["plugins"] == [{"type": "bridge"}]
    assert C.load(str(tmp_path), "old")[1] == {"cniVersion": "0.4.0", "name": "old",
                                                "plugins": [{"type": "ptp", "ipam": {}}]}
    with pytest.raises(C.NetworkConfigError, match="network 'two' not found"):
        C.load(str(tmp_path), "two")
    (tmp_path / "50-bad.conflist").write_text(json.dumps(
        {"cniVersion": "1.0.0", "name": "bad", "plugins": [{"type": "../x"}]}))
    with pytest.raises(C.NetworkConfigError, match=r"plugins\[0\].type"):
        C.load(str(tmp_path), "bad")


def test_default_network_written_on_first_use(tmp_path: Path) -> None:
    d = tmp_path / "net.d"
    path, conf = C.load(str(d), "runcgo0")
    assert os.path.basename(path) == "runcgo0.conflist"
    assert conf == C.default_conflist()
    assert C.capabilities(conf) == {"ips", "portMappings"}
    assert conf["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "10.88.0.0/16"}]]
