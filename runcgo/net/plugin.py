"""Running one CNI plugin binary: environment in, JSON on stdin, result or error out.

The CNI execution protocol: parameters in ``CNI_*`` environment variables, the
execution configuration on stdin, a result on stdout with exit status 0, or an
error structure (``code``, ``msg``, ``details``) and a non-zero status.  The
plugin runs in our (the host's) network namespace, as the spec requires.
"""

from __future__ import annotations

import os

from .. import _json as json
from ..errors import RuncgoError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Plugins run iptables, ip6tables and friends: make sure a system PATH is there
# even when we were started with a minimal environment (a shim, a unit file).
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_TIMEOUT = 60.0


class PluginError(RuncgoError):
    """A plugin failed; the message names the network, plugin and command, then
    the plugin's own ``msg`` and ``details`` verbatim, on one line."""

    def __init__(self, network: str, plugin: str, command: str, text: str,
                 code: int | None = None) -> None:
        self.network, self.plugin, self.command, self.code = network, plugin, command, code
        super().__init__(f"network {network}: plugin {plugin} ({command}): {_one_line(text)}")


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "failed without a message"


def find_binary(plugin_type: str, cni_path: list[str]) -> str | None:
    for d in cni_path:
        candidate = os.path.join(d, plugin_type)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing_binary(network: str, plugin_type: str, cni_path: list[str]) -> PluginError:
    hint = ("install Debian's containernetworking-plugins" if plugin_type in _DEBIAN_PLUGINS
            else "install the plugin")
    return PluginError(network, plugin_type, "lookup",
                       f"no executable {plugin_type!r} in {':'.join(cni_path)} "
                       f"({hint}, or point --cni-path / CNI_PATH at it)")


_DEBIAN_PLUGINS = frozenset({"bandwidth", "bridge", "dhcp", "firewall", "host-device",
                             "host-local", "ipvlan", "loopback", "macvlan", "portmap", "ptp",
                             "sbr", "static", "tuning", "vlan", "vrf"})


def invoke(network: str, binary: str, command: str, config: dict[str, Any],
           env: dict[str, str]) -> dict[str, Any] | None:
    """Run ``binary`` with ``CNI_COMMAND=command``; the parsed stdout (None if empty)."""
    import subprocess

    plugin = os.path.basename(binary)
    full_env = {"PATH": os.environ.get("PATH") or _SYSTEM_PATH, **env, "CNI_COMMAND": command}
    if "/usr/sbin" not in full_env["PATH"].split(":"):
        full_env["PATH"] += ":" + _SYSTEM_PATH
    try:
        done = subprocess.run([binary], input=json.dumps(config).encode(), env=full_env,
                              capture_output=True, timeout=_TIMEOUT, close_fds=True,
                              preexec_fn=_die_with_parent(os.getpid()))
    except subprocess.TimeoutExpired:
        raise PluginError(network, plugin, command, f"no answer in {_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise PluginError(network, plugin, command, f"cannot run {binary}: "
                          f"{os.strerror(exc.errno or 0).lower()}") from None
    out = done.stdout.strip()
    if done.returncode != 0:
        raise _error(network, plugin, command, done.returncode, out, done.stderr)
    if not out:
        return None
    try:
        parsed = json.loads(out)
    except ValueError:
        raise PluginError(network, plugin, command,
                          f"printed something that is not JSON: {out[:200]!r}") from None
    if not isinstance(parsed, dict):
        raise PluginError(network, plugin, command, "printed JSON that is not an object")
    return parsed


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A plugin dies with the runtime (PDEATHSIG): a runtime killed during ADD
    must not leave an ADD finishing behind the DEL that ``delete --force`` runs.
    (The callers are single-threaded -- the CLI, a fork server -- so running
    this between fork and exec is safe.)"""
    def child() -> None:
        from ..kernel.signals import SIGKILL
        from ..kernel.syscalls import PR_SET_PDEATHSIG, prctl

        prctl(PR_SET_PDEATHSIG, SIGKILL)
        if os.getppid() != parent:  # the runtime died before the prctl
            os._exit(1)

    return child


def _error(network: str, plugin: str, command: str, status: int, out: bytes,
           err: bytes) -> PluginError:
    """The plugin's error structure, verbatim; else its stderr; else its exit status."""
    try:
        parsed = json.loads(out) if out else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and ("msg" in parsed or "code" in parsed):
        msg = str(parsed.get("msg") or "")
        details = str(parsed.get("details") or "")
        text = f"{msg}: {details}" if msg and details else (msg or details)
        code = parsed.get("code")
        return PluginError(network, plugin, command, text or f"error code {code}",
                           code if isinstance(code, int) else None)
    text = (err or out).decode(errors="replace").strip()
    return PluginError(network, plugin, command, text or f"exited with status {status}")
