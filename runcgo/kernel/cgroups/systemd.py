"""The systemd cgroup driver (``--systemd-cgroup``).

On a systemd host the cgroup tree belongs to systemd; a runtime that mkdirs
its own cgroups gets them moved or trimmed behind its back.  So, as runc
does, the container becomes a *transient scope unit* started over D-Bus
(``StartTransientUnit``) with ``Delegate=yes`` and its limits as unit
properties; the same limits are then also written to the cgroup files by the
v1/v2 driver underneath (systemd knows only some of them, and file writes
take effect at once).

``cgroupsPath`` is ``slice:prefix:name`` → unit ``prefix-name.scope`` in
``slice`` (default ``system.slice:runc:<id>``).  Where systemd is not
running we fail clearly instead of silently falling back to cgroupfs.
D-Bus is spoken with jeepney (pure Python), imported only here.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Sequence

from ...spec import LinuxDevice, LinuxResources
from .base import CgroupError, CgroupManager
from .paths import hierarchies, mode

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

_SYSTEMD = "org.freedesktop.systemd1"
_MANAGER_PATH = "/org/freedesktop/systemd1"
_MANAGER_IFACE = "org.freedesktop.systemd1.Manager"


def systemd_running() -> bool:
    """sd_booted(): systemd creates /run/systemd/system early at boot."""
    return os.path.isdir("/run/systemd/system")


def parse_path(container_id: str, cgroups_path: str | None) -> tuple[str, str]:
    """``slice:prefix:name`` -> (slice unit, scope unit)."""
    if not cgroups_path:
        return "system.slice", f"runc-{container_id}.scope"
    parts = cgroups_path.split(":")
    if len(parts) != 3:
        raise CgroupError(f'expected cgroupsPath to be of format "slice:prefix:name" for '
                          f"systemd cgroups, got {cgroups_path!r} instead")
    slice_, prefix, name = parts
    if name.endswith(".slice"):
        raise CgroupError(f"cgroupsPath {cgroups_path!r}: a slice as the container's unit is "
                          "not supported; name a scope")
    return slice_ or "system.slice", f"{prefix}-{name}.scope" if prefix else f"{name}.scope"


def expand_slice(slice_: str) -> str:
    """``a-b-c.slice`` -> ``/a.slice/a-b.slice/a-b-c.slice`` (systemd's nesting by dashes)."""
    if not slice_.endswith(".slice") or "/" in slice_:
        raise CgroupError(f"invalid systemd slice name {slice_!r}")
    if slice_ == "-.slice":
        return "/"
    stem = slice_[:-len(".slice")]
    if stem.startswith("-") or stem.endswith("-") or "--" in stem:
        raise CgroupError(f"invalid systemd slice name {slice_!r}")
    path, prefix = "", ""
    for part in stem.split("-"):
        prefix = f"{prefix}-{part}" if prefix else part
        path += f"/{prefix}.slice"
    return path


def _cpuset_mask(spec: str) -> bytes:
    """``0-2,5`` -> little-endian bitmask bytes, as AllowedCPUs wants (``ay``)."""
    bits = 0
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        lo, _, hi = item.partition("-")
        for i in range(int(lo), int(hi or lo) + 1):
            bits |= 1 << i
    return bits.to_bytes(max(1, (bits.bit_length() + 7) // 8), "little")


def unit_properties(r: LinuxResources | None, v2: bool) -> list[tuple[str, tuple[str, Any]]]:
    """The resource limits systemd understands, as D-Bus (name, (sig, value)) pairs."""
    props: list[tuple[str, tuple[str, Any]]] = []
    if r is None:
        return props
    m, c, p = r.memory, r.cpu, r.pids
    if m and m.limit:
        props.append(("MemoryMax" if v2 else "MemoryLimit",
                      ("t", 2**64 - 1 if m.limit < 0 else m.limit)))
    if c and c.shares:
        from .convert import shares_to_weight

        props.append(("CPUWeight", ("t", shares_to_weight(c.shares))) if v2
                     else ("CPUShares", ("t", c.shares)))
    if c and c.quota and c.quota > 0:
        period = c.period or 100000
        # systemd has a 10 ms granularity: round up like runc so the limit is not lost.
        per_sec = math.ceil(c.quota * 1_000_000 / period / 10_000) * 10_000
        props.append(("CPUQuotaPerSecUSec", ("t", per_sec)))
        if c.period:
            props.append(("CPUQuotaPeriodUSec", ("t", c.period)))
    if v2 and c and c.cpus:
        props.append(("AllowedCPUs", ("ay", _cpuset_mask(c.cpus))))
    if v2 and c and c.mems:
        props.append(("AllowedMemoryNodes", ("ay", _cpuset_mask(c.mems))))
    if p and p.limit:
        props.append(("TasksMax", ("t", 2**64 - 1 if p.limit < 0 else p.limit)))
    return props


class SystemdManager(CgroupManager):
    driver = "systemd"

    def __init__(self, container_id: str, slice_: str, unit: str, inner: CgroupManager,
                 started: bool = False) -> None:
        self.container_id = container_id
        self.slice = slice_
        self.unit = unit
        self.inner = inner
        self.path = inner.path
        self.started = started
        self._pending: tuple[LinuxResources | None, Sequence[LinuxDevice] | None] | None = None

    @property
    def v2(self) -> bool:
        return self.inner.driver == "v2"

    # -- D-Bus ---------------------------------------------------------------
    def _call(self, method: str, signature: str, body: tuple[Any, ...]) -> Any:
        try:
            from jeepney import DBusAddress, new_method_call
            from jeepney.io.blocking import open_dbus_connection
        except ImportError:
            raise CgroupError("systemd cgroup driver needs the 'jeepney' package "
                              "(pip install jeepney)") from None
        addr = DBusAddress(_MANAGER_PATH, bus_name=_SYSTEMD, interface=_MANAGER_IFACE)
        try:
            with open_dbus_connection(bus="SYSTEM") as conn:
                reply = conn.send_and_get_reply(new_method_call(addr, method, signature, body),
                                                timeout=10)
        except (OSError, ValueError) as e:
            raise CgroupError(f"systemd: cannot reach the system D-Bus: {e}") from e
        if reply.header.message_type.name == "error":
            raise CgroupError(f"systemd {method} {self.unit}: {reply.body[0] if reply.body else ''}")
        return reply.body

    # -- lifecycle -----------------------------------------------------------
    def create(self) -> None:
        """Nothing yet: systemd makes a scope only together with its first pid."""

    def sub(self, paths: dict[str, str]) -> CgroupManager:
        # exec --cgroup: the scope exists; the process just joins directories.
        return self.inner.sub(paths)

    def apply(self, pid: int) -> None:
        if not self.started:
            res = self._pending[0] if self._pending else None
            props: list[tuple[str, tuple[str, Any]]] = [
                ("Description", ("s", f"runcgo container {self.container_id}")),
                ("Slice", ("s", self.slice)),
                ("Delegate", ("b", True)),
                ("DefaultDependencies", ("b", False)),
                ("PIDs", ("au", [pid])),
                *unit_properties(res, self.v2),
            ]
            self._call("StartTransientUnit", "ssa(sv)a(sa(sv))", (self.unit, "replace", props, []))
            self.started = True
            self._wait_for(pid)
        # Hierarchies systemd does not manage (v1) get our own directories.
        self.inner.create()
        self.inner.apply(pid)
        if self._pending is not None:
            res, devs = self._pending
            self._pending = None
            self.inner.set(res, devices=devs)

    def _wait_for(self, pid: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{pid}/cgroup") as f:
                    if self.unit in f.read():
                        return
            except FileNotFoundError:
                return
            time.sleep(0.005)
        raise CgroupError(f"systemd: timed out waiting for {self.unit} to contain pid {pid}")

    def set(self, resources: LinuxResources | None, *,
            devices: Sequence[LinuxDevice] | None = None) -> None:
        if not self.started:
            self._pending = (resources, devices)
            return
        props = unit_properties(resources, self.v2)
        if props:
            self._call("SetUnitProperties", "sba(sv)", (self.unit, True, props))
        self.inner.set(resources, devices=devices)

    def leaf_dirs(self) -> list[str]:
        return self.inner.leaf_dirs()

    def destroy(self) -> None:
        if self.started:
            try:
                self._call("StopUnit", "ss", (self.unit, "replace"))
            except CgroupError as e:
                if "NoSuchUnit" not in str(e) and "not loaded" not in str(e):
                    raise
            # A scope whose processes were SIGKILLed ends up "failed" and stays loaded
            # (visible in systemctl, blocking a new scope of the same name): unload it,
            # as runc does.  Errors (already gone) do not matter.
            with contextlib.suppress(CgroupError):
                self._call("ResetFailedUnit", "s", (self.unit,))
        self.inner.destroy()

    # -- delegated -----------------------------------------------------------
    def freeze(self) -> None:
        self.inner.freeze()

    def thaw(self) -> None:
        self.inner.thaw()

    def freezer_state(self) -> str:
        return self.inner.freezer_state()

    def pids(self) -> list[int]:
        return self.inner.pids()

    def stats(self) -> dict[str, Any]:
        return self.inner.stats()

    def exists(self) -> bool:
        return self.inner.exists()

    def memory_dir(self) -> str | None:
        return self.inner.memory_dir()

    def mount_in_container(self, target: str, readonly: bool, flags: int,
                           cgroupns: bool) -> None:
        self.inner.mount_in_container(target, readonly, flags, cgroupns)

    def to_state(self) -> dict[str, Any]:
        return {"driver": "systemd", "id": self.container_id, "slice": self.slice,
                "unit": self.unit, "started": self.started, "path": self.path,
                "inner": self.inner.to_state()}


def new_systemd(container_id: str, cgroups_path: str | None) -> SystemdManager:
    if not systemd_running():
        raise CgroupError("--systemd-cgroup: systemd is not running on this host "
                          "(/run/systemd/system is missing); use the default cgroupfs driver "
                          "(drop --systemd-cgroup)")
    slice_, unit = parse_path(container_id, cgroups_path)
    path = expand_slice(slice_).rstrip("/") + "/" + unit
    hs = hierarchies()
    inner: CgroupManager
    if mode(hs) == "v2":
        from .v2 import new_v2

        inner = new_v2(path, hs)
    else:
        from .v1 import new_v1

        inner = new_v1(container_id, path, hs)
    return SystemdManager(container_id, slice_, unit, inner)


def from_state_systemd(d: dict[str, Any]) -> SystemdManager:
    inner_d = d.get("inner") or {}
    inner: CgroupManager
    if inner_d.get("driver") == "v2":
        from .v2 import from_state_v2

        inner = from_state_v2(inner_d)
    else:
        from .v1 import from_state_v1

        inner = from_state_v1(inner_d)
    # A manager rebuilt from state.json belongs to a container whose init was placed in
    # its scope: the state is saved only after apply().  The recorded "started" flag can't
    # be trusted (create records to_state() before apply), and believing it would make
    # update a silent no-op (set() would only queue the limits) and delete leave the
    # unit behind.
    return SystemdManager(d.get("id", ""), d.get("slice", ""), d.get("unit", ""), inner,
                          started=True)
