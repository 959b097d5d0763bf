"""A container's CNI network, through its lifecycle: prepared before anything
exists, attached while the init waits for its hooks, detached on every way out.

- ``prepare`` (create, before any process or directory): find the network's
  configuration list, check that ``--publish``/``--ip`` can be honoured and
  that every plugin binary exists, and give the config a new network namespace
  if it has none.  Nothing is made, so a mistake here leaves nothing.
- ``connect`` (create, when the init reaches the createRuntime point -- its
  namespaces exist, the user's program has not started): record the
  attachment, pin the namespace (kernel/netns.py says why), run ADD, record
  the result.  The record is written *before* ADD, so a runtime killed during
  ADD still leaves ``delete --force`` enough to run DEL.
- ``disconnect`` (delete, delete --force, a failed create): DEL, unpin, forget.
  Safe to call twice and when nothing was attached.
"""

from __future__ import annotations

import os

from .. import log
from .. import spec as S
from .._lite import suppress
from .._record import asdict, field, record
from ..errors import ConfigError, InvalidArgument
from ..state import Store, read_record, write_record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..net.request import NetworkRequest

NETWORK_RECORD = "network.json"
NETNS_FILE = "netns"


@record
class Prepared:
    """A request resolved against the host: what ``connect`` runs."""

    conf: dict[str, Any]
    cni_path: list[str]
    capability_args: dict[str, Any] = field(default_factory=dict)
    cni_args: str = ""
    ports: list[str] = field(default_factory=list)


def prepare(request: NetworkRequest, spec: S.Spec) -> Prepared:
    from ..net import attachment, conflist
    from ..net.request import check_address, check_name

    check_name(request.name)
    ns = S.namespaces(spec)
    if ns.get("network"):
        raise ConfigError(f"--network {request.name} needs a new network namespace, but the config "
                          f"joins {ns['network']}", "$.linux.namespaces")
    if "network" not in ns:  # asked for a network: that needs a namespace of its own
        if spec.linux is None:
            spec.linux = S.Linux()
        spec.linux.namespaces = [*(spec.linux.namespaces or ()), S.LinuxNamespace(type="network")]
    _path, conf = conflist.load(request.resolved_conf_dir(), request.name)
    caps = conflist.capabilities(conf)
    cap_args: dict[str, Any] = {}
    cni_args = ""
    if request.publish:
        if "portMappings" not in caps:
            raise InvalidArgument(f"--publish: network {request.name} cannot publish ports (no "
                                  "plugin in its list declares the portMappings capability; "
                                  "add the portmap plugin)")
        cap_args["portMappings"] = [p.to_cni() for p in request.publish]
    if request.ip:
        check_address(request.ip, "--ip")
        if "ips" in caps:
            cap_args["ips"] = [request.ip]
        else:  # host-local also reads IP= from CNI_ARGS
            cni_args = f"IgnoreUnknown=1;IP={request.ip}"
    prepared = Prepared(conf=conf, cni_path=request.resolved_cni_path(),
                        capability_args=cap_args, cni_args=cni_args,
                        ports=[str(p) for p in request.publish])
    attachment.binaries(_attachment("-", "", prepared))  # every plugin there, before we start
    return prepared


def _attachment(container_id: str, netns_path: str, prepared: Prepared) -> Any:
    from ..net.attachment import Attachment
    from ..net.request import CONTAINER_IFNAME

    return Attachment(container_id=container_id, netns=netns_path, ifname=CONTAINER_IFNAME,
                      conf=prepared.conf, cni_path=prepared.cni_path,
                      capability_args=prepared.capability_args, cni_args=prepared.cni_args)


def connect(store: Store, container_id: str, init_pid: int, prepared: Prepared) -> dict[str, Any]:
    """Attach the init's network namespace; the summary ``state`` shows."""
    from ..kernel import netns
    from ..net import attachment
    from ..net.summary import summarize

    path = os.path.join(store.dir(container_id), NETNS_FILE)
    att = _attachment(container_id, path, prepared)
    rec = {"attachment": asdict(att), "ports": prepared.ports}
    write_record(store, container_id, NETWORK_RECORD, rec)
    netns.pin(init_pid, path)
    result = attachment.add(att)
    rec["attachment"] = asdict(att)
    write_record(store, container_id, NETWORK_RECORD, rec)
    return summarize(att.network, att.ifname, result, prepared.ports)


def disconnect(store: Store, container_id: str) -> str | None:
    """DEL and unpin; None, or the first plugin failure as one line (the
    namespace is released and the record removed either way: a DEL that keeps
    failing must not keep the container from being deleted)."""
    d = store.dir(container_id)
    path = os.path.join(d, NETNS_FILE)
    rec = read_record(store, container_id, NETWORK_RECORD)
    failure = None
    if rec is not None and isinstance(rec.get("attachment"), dict):
        from ..net import attachment

        att = attachment.Attachment(**rec["attachment"])
        err = attachment.delete(att)
        failure = str(err) if err is not None else None
    if rec is not None or os.path.lexists(path):
        from ..kernel import netns

        netns.unpin(path)
    with suppress(FileNotFoundError):
        os.unlink(os.path.join(d, NETWORK_RECORD))
    return failure


def disconnect_logged(store: Store, container_id: str, *, quiet: bool = False) -> None:
    """:func:`disconnect` for cleanup paths: a failure is a warning (``quiet``: a
    debug line, when another error is already on its way to the user)."""
    try:
        failure = disconnect(store, container_id)
    except OSError as exc:
        failure = f"network cleanup: {exc}"
    if failure:
        (log.debug if quiet else log.warning)(f"CNI DEL: {failure}")


def check(store: Store, container_id: str) -> None:
    """CHECK the container's attachment (raises the plugin's error)."""
    from ..net import attachment

    rec = read_record(store, container_id, NETWORK_RECORD)
    if rec is None or not isinstance(rec.get("attachment"), dict):
        raise InvalidArgument(f"container {container_id} has no CNI network")
    attachment.check(attachment.Attachment(**rec["attachment"]))
