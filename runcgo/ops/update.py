"""``update``: change the resource limits of a live container.

The new resources come from ``--resources FILE|-`` (OCI LinuxResources JSON)
and/or runc's scalar flags, merged by :func:`resources_from_flags`.  Zero or
absent fields leave the current limit alone (Docker sends every field, zeros
included).  The accepted values are also folded into the saved config, so a
later ``state``/``update`` sees what is in force.
"""

from __future__ import annotations

import re

from ..errors import ContainerNotRunning, InvalidArgument
from ..spec import LinuxBlockIO, LinuxCPU, LinuxMemory, LinuxPids, LinuxResources
from ..state import Store

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

_SIZE_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_bytes(value: str | int, flag: str = "") -> int:
    """``512m``, ``1g``, ``1024``, ``-1`` -> bytes (binary units, like runc's flags)."""
    if isinstance(value, int):
        return value
    m = _SIZE_RE.match(value)
    if not m:
        raise InvalidArgument(f"invalid value {value!r} for {flag or 'size'}: expected a number "
                              "with an optional unit (k, m, g, t, p)")
    num, unit = m.group(1), m.group(2).lower()
    if num.startswith("-"):
        if num != "-1" or unit:
            raise InvalidArgument(f"invalid value {value!r} for {flag or 'size'}: only -1 "
                                  "(unlimited) may be negative")
        return -1
    return int(float(num) * _UNITS[unit])


def _int(value: str | int, flag: str) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(value.strip())
    except ValueError:
        raise InvalidArgument(f"invalid value {value!r} for {flag}: expected an integer") from None


def resources_from_flags(
    base: LinuxResources | None = None, *,
    memory: str | int | None = None,
    memory_swap: str | int | None = None,
    memory_reservation: str | int | None = None,
    kernel_memory: str | int | None = None,
    kernel_memory_tcp: str | int | None = None,
    cpu_shares: str | int | None = None,
    cpu_quota: str | int | None = None,
    cpu_period: str | int | None = None,
    cpu_rt_period: str | int | None = None,
    cpu_rt_runtime: str | int | None = None,
    cpu_idle: str | int | None = None,
    cpuset_cpus: str | None = None,
    cpuset_mems: str | None = None,
    pids_limit: str | int | None = None,
    blkio_weight: str | int | None = None,
) -> LinuxResources:
    """``base`` (from --resources, may be None) with every given flag applied on top.

    Flag values may be the raw command-line strings.  Flags left as None do
    not touch ``base``.
    """
    r = base if base is not None else LinuxResources()
    mem_flags = (memory, memory_swap, memory_reservation, kernel_memory, kernel_memory_tcp)
    if any(v is not None for v in mem_flags):
        m = r.memory or LinuxMemory()
        if memory is not None:
            m.limit = parse_bytes(memory, "--memory")
        if memory_swap is not None:
            m.swap = parse_bytes(memory_swap, "--memory-swap")
        if memory_reservation is not None:
            m.reservation = parse_bytes(memory_reservation, "--memory-reservation")
        if kernel_memory is not None:
            m.kernel = parse_bytes(kernel_memory, "--kernel-memory")
        if kernel_memory_tcp is not None:
            m.kernel_tcp = parse_bytes(kernel_memory_tcp, "--kernel-memory-tcp")
        r.memory = m
    cpu_flags = (cpu_shares, cpu_quota, cpu_period, cpu_rt_period, cpu_rt_runtime, cpu_idle,
                 cpuset_cpus, cpuset_mems)
    if any(v is not None for v in cpu_flags):
        c = r.cpu or LinuxCPU()
        if cpu_shares is not None:
            c.shares = _int(cpu_shares, "--cpu-share")
        if cpu_quota is not None:
            c.quota = _int(cpu_quota, "--cpu-quota")
        if cpu_period is not None:
            c.period = _int(cpu_period, "--cpu-period")
        if cpu_rt_period is not None:
            c.realtime_period = _int(cpu_rt_period, "--cpu-rt-period")
        if cpu_rt_runtime is not None:
            c.realtime_runtime = _int(cpu_rt_runtime, "--cpu-rt-runtime")
        if cpu_idle is not None:
            c.idle = _int(cpu_idle, "--cpu-idle")
        if cpuset_cpus is not None:
            c.cpus = cpuset_cpus
        if cpuset_mems is not None:
            c.mems = cpuset_mems
        r.cpu = c
    if pids_limit is not None:
        r.pids = LinuxPids(limit=_int(pids_limit, "--pids-limit"))
    if blkio_weight is not None:
        b = r.block_io or LinuxBlockIO()
        b.weight = _int(blkio_weight, "--blkio-weight")
        r.block_io = b
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
