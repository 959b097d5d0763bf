"""A network attachment: ADD, CHECK and DEL of one container on one network.

Section 3 of the CNI spec: ADD runs the list's plugins in order, each given the
previous plugin's result as ``prevResult``; the last result is the
attachment's and is kept (in the container's state dir) because CHECK and DEL
must be given it.  DEL runs the plugins in reverse, each with that final ADD
result.  Each plugin gets the list's ``cniVersion`` and ``name``, its own
fields unchanged, and a ``runtimeConfig`` holding the capability arguments it
declares in ``capabilities`` (which is removed).

One deliberate difference from libcni: DEL carries on past a failing plugin
and reports the first failure at the end.  A DEL that stopped at the portmap
plugin would leave the bridge's veth and the IPAM lease behind; later plugins'
DELs are idempotent by the spec, so trying them all leaks least.
"""

from __future__ import annotations

import os

from .._record import field, record
from .plugin import PluginError, find_binary, invoke, missing_binary

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@record
class Attachment:
    """Everything ADD was called with, so DEL and CHECK can repeat it exactly
    (the spec: the configuration should not change between ADD and DEL)."""

    container_id: str
    netns: str
    ifname: str
    conf: dict[str, Any]
    cni_path: list[str]
    capability_args: dict[str, Any] = field(default_factory=dict)
    cni_args: str = ""
    result: dict[str, Any] | None = None

    @property
    def network(self) -> str:
        return str(self.conf.get("name"))

    def env(self, with_netns: bool = True) -> dict[str, str]:
        env = {"CNI_CONTAINERID": self.container_id, "CNI_IFNAME": self.ifname,
               "CNI_PATH": ":".join(self.cni_path)}
        if with_netns:
            env["CNI_NETNS"] = self.netns
        if self.cni_args:
            env["CNI_ARGS"] = self.cni_args
        return env


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        return (0,)


def execution_config(conf: dict[str, Any], plugin: dict[str, Any],
                     capability_args: dict[str, Any], prev: dict[str, Any] | None) -> dict[str, Any]:
    """Section 3, "Deriving execution configuration from plugin configuration"."""
    out = {k: v for k, v in plugin.items() if k != "capabilities"}
    out["cniVersion"] = conf["cniVersion"]
    out["name"] = conf["name"]
    declared = plugin.get("capabilities") or {}
    runtime_config = {k: v for k, v in capability_args.items() if declared.get(k)}
    if runtime_config:
        out["runtimeConfig"] = runtime_config
    if prev is not None:
        out["prevResult"] = prev
    return out


def binaries(att: Attachment) -> list[str]:
    """Every plugin's executable, looked up before anything runs (a missing one
    is an error up front, not half an attachment)."""
    out = []
    for p in att.conf["plugins"]:
        path = find_binary(p["type"], att.cni_path)
        if path is None:
            raise missing_binary(att.network, p["type"], att.cni_path)
        out.append(path)
    return out


def add(att: Attachment) -> dict[str, Any]:
    """Run ADD through the list; the final result (also stored in ``att.result``)."""
    result: dict[str, Any] | None = None
    env = att.env()
    for plugin, binary in zip(att.conf["plugins"], binaries(att), strict=True):
        cfg = execution_config(att.conf, plugin, att.capability_args, result)
        out = invoke(att.network, binary, "ADD", cfg, env)
        if out is None:
            raise PluginError(att.network, plugin["type"], "ADD", "returned no result")
        result = out
    assert result is not None
    att.result = result
    return result


def check(att: Attachment) -> None:
    """CHECK the attachment (a no-op before spec 0.4.0 or with ``disableCheck``)."""
    if att.result is None or att.conf.get("disableCheck") is True \
            or _version(str(att.conf["cniVersion"])) < (0, 4, 0):
        return
    env = att.env()
    for plugin, binary in zip(att.conf["plugins"], binaries(att), strict=True):
        invoke(att.network, binary, "CHECK",
               execution_config(att.conf, plugin, att.capability_args, att.result), env)


def delete(att: Attachment) -> PluginError | None:
    """Run DEL through the list in reverse; the first failure, or None."""
    first: PluginError | None = None
    env = att.env(with_netns=os.path.exists(att.netns))
    for plugin in reversed(att.conf["plugins"]):
        binary = find_binary(plugin["type"], att.cni_path)
        try:
            if binary is None:
                raise missing_binary(att.network, plugin["type"], att.cni_path)
            invoke(att.network, binary, "DEL",
                   execution_config(att.conf, plugin, att.capability_args, att.result), env)
        except PluginError as exc:
            first = first or exc
    if first is None:
        att.result = None
    return first
