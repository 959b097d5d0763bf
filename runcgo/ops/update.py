"""``update``: change the resource limits of a live container.

The new resources come from ``--resources FILE|-`` (OCI LinuxResources JSON)
and/or runc's scalar flags, merged by :func:`resources_from_flags`.  Zero or
absent fields leave the current limit alone (Docker sends every field, zeros
included).  The accepted values are also folded into the saved config, so a
later ``state``/``update`` sees what is in force.
"""

from __future__ import annotations

from ..errors import ContainerNotRunning, InvalidArgument
from ..spec import LinuxBlockIO, LinuxCPU, LinuxMemory, LinuxPids, LinuxResources
from ..state import Store

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_SIZE = r"^\s*(-?\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?\s*$"
_INT64_MAX = (1 << 63) - 1
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_bytes(value: str | int, flag: str = "") -> int:
    """``512m``, ``1g``, ``1024``, ``-1`` -> bytes (binary units, like runc's flags)."""
    if isinstance(value, int):
        return value
    import re  # only for size flags: not on Docker's ``update --resources -``

    m = re.match(_SIZE, value, re.IGNORECASE)
    if not m:
        raise InvalidArgument(f"invalid value {value!r} for {flag or 'size'}: expected a number "
                              "with an optional unit (k, m, g, t, p)")
    num, unit = m.group(1), m.group(2).lower()
    if num.startswith("-"):
        if num != "-1" or unit:
            raise InvalidArgument(f"invalid value {value!r} for {flag or 'size'}: only -1 "
                                  "(unlimited) may be negative")
        return -1
    # Integer arithmetic (a float would turn 1e30 into inf and then fail to convert).
    whole, _, frac = num.partition(".")
    mult = _UNITS[unit]
    if len(whole) > 20:
        size = _INT64_MAX + 1
    else:
        size = int(whole) * mult + (int(frac[:20]) * mult // 10 ** len(frac[:20]) if frac else 0)
    if size > _INT64_MAX:
        raise InvalidArgument(f"invalid value {value!r} for {flag or 'size'}: too large "
                              "(at most 2^63-1 bytes)")
    return size


def _int(value: str | int, flag: str) -> int:
    if isinstance(value, int):
        return value
    try:
        n = int(value.strip())
    except ValueError:
        raise InvalidArgument(f"invalid value {value!r} for {flag}: expected an integer") from None
    if not -(1 << 63) <= n <= _INT64_MAX:
        raise InvalidArgument(f"invalid value {value!r} for {flag}: out of the 64-bit range")
    return n


def _text(value: str | int, flag: str) -> str:
    return str(value)


# runc's scalar flags: CLI flag -> (LinuxResources section, field, parser).
FLAGS: dict[str, tuple[str, str, Callable[[str | int, str], Any]]] = {
    "--memory": ("memory", "limit", parse_bytes),
    "--memory-swap": ("memory", "swap", parse_bytes),
    "--memory-reservation": ("memory", "reservation", parse_bytes),
    "--kernel-memory": ("memory", "kernel", parse_bytes),
    "--kernel-memory-tcp": ("memory", "kernel_tcp", parse_bytes),
    "--cpu-share": ("cpu", "shares", _int),
    "--cpu-quota": ("cpu", "quota", _int),
    "--cpu-period": ("cpu", "period", _int),
    "--cpu-rt-period": ("cpu", "realtime_period", _int),
    "--cpu-rt-runtime": ("cpu", "realtime_runtime", _int),
    "--cpu-idle": ("cpu", "idle", _int),
    "--cpuset-cpus": ("cpu", "cpus", _text),
    "--cpuset-mems": ("cpu", "mems", _text),
    "--pids-limit": ("pids", "limit", _int),
    "--blkio-weight": ("block_io", "weight", _int),
}
_SECTIONS: dict[str, Callable[[], Any]] = {
    "memory": LinuxMemory, "cpu": LinuxCPU, "pids": LinuxPids, "block_io": LinuxBlockIO}


def resources_from_flags(base: LinuxResources | None = None,
                         flags: dict[str, str | int | None] | None = None) -> LinuxResources:
    """``base`` (from --resources, may be None) with every given flag applied on
    top.  ``flags``: CLI flag (a key of :data:`FLAGS`) -> value, raw strings
    allowed; None leaves ``base`` alone."""
    r = base if base is not None else LinuxResources()
    for flag, value in (flags or {}).items():
        if value is None:
            continue
        section, field, parse = FLAGS[flag]
        part = getattr(r, section)
        if part is None:
            part = _SECTIONS[section]()
            setattr(r, section, part)
        setattr(part, field, parse(value, flag))
    return r


def _merge(old: Any, new: Any) -> Any:
    """Deep-merge ``new`` into ``old``, skipping zero scalars ("unchanged")."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = dict(old)
        for k, v in new.items():
            if v in (0, None) and not isinstance(v, bool):
                continue
            out[k] = _merge(old.get(k), v)
        return out
    return new


async def update(store: Store, container_id: str, resources: LinuxResources) -> None:
    """Apply ``resources`` to the live container and record them in its state."""
    from .._struct import to_builtins
    from ..kernel.cgroups import from_state

    with store.lock(container_id):
        st = store.load(container_id)
        if st.status == "stopped":
            raise ContainerNotRunning(container_id, st.status)
        from_state(st.cgroup).set(resources)
        new = to_builtins(resources)
        linux = dict(st.config.get("linux") or {})
        if new:
            linux["resources"] = _merge(linux.get("resources") or {}, new)
            st.config = {**st.config, "linux": linux}
            store.save(st)
