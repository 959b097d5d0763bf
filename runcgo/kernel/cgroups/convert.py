"""Conversions between the OCI (cgroup v1 flavoured) values and cgroup v2 ones.

The OCI spec speaks v1: cpu *shares* (2..262144), blkio *weight* (10..1000),
memory *swap* meaning memory+swap.  v2 wants cpu.weight (1..10000), io.weight
(1..10000) and swap alone.  The formulas are the linear maps runc documents
in docs/cgroup-v2.md, so a container gets the same v2 values under both
runtimes.
"""

from __future__ import annotations

from .base import CgroupError


def shares_to_weight(shares: int) -> int:
    """cpu.shares [2, 262144] -> cpu.weight [1, 10000]; 0 means unset."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def weight_to_shares(weight: int) -> int:
    """The inverse map, for reporting a v2 weight as shares."""
    if weight == 0:
        return 0
    return 2 + ((weight - 1) * 262142) // 9999


def blkio_to_io_weight(weight: int) -> int:
    """blkio.weight [10, 1000] -> io.weight [1, 10000]; 0 means unset."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def swap_to_v2(swap: int | None, limit: int | None) -> int | None:
    """OCI memory.swap (memory+swap) -> memory.swap.max (swap only).

    None = leave memory.swap.max alone; -1 = "max".
    """
    if swap is None or swap == 0:
        # Unlimited memory with no swap setting: swap unlimited too (runc does the same).
        return -1 if limit == -1 else None
    if swap == -1:
        return -1
    if not limit or limit == -1:
        raise CgroupError("memory.swap: cannot set a swap limit without a memory limit on "
                          "cgroup v2 (swap is memory+swap)")
    if swap < limit:
        raise CgroupError(f"memory.swap: memory+swap limit ({swap}) must be >= memory limit "
                          f"({limit})")
    return swap - limit
