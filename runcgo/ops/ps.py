"""``ps``: the host pids of a container's processes.

``runc ps --format json`` prints exactly this list (Docker's ``top`` parses
it); the table format runs the host's ``ps`` and keeps the lines whose PID
column is one of ours, which :func:`filter_ps_table` does on its output.
"""

from __future__ import annotations

from ..state import Store


async def ps(store: Store, container_id: str) -> list[int]:
    """Every pid in the container's cgroup (sub-cgroups included), sorted.

    A stopped container is not an error (runc lists what its cgroup still
    holds, usually nothing): a monitoring loop racing the container's exit
    gets an empty table, not a failure."""
    from ..kernel.cgroups import CgroupError, from_state

    st = store.load(container_id)
    if not st.cgroup:
        return []
    cg = from_state(st.cgroup)
    if st.status == "stopped" and not cg.exists():
        return []
    skipped = st.cgroup.get("skipped")
    if skipped and (st.cgroup.get("driver") == "v2" or not st.cgroup.get("dirs")):
        # runc fails too ("runc ps may fail if you don't have the full access to cgroups").
        why = skipped if isinstance(skipped, str) else next(iter(skipped.values()), "")
        raise CgroupError(f"unable to get all container pids: the rootless container has no "
                          f"cgroup of its own ({why})")
    return cg.pids()


def filter_ps_table(output: str, pids: list[int]) -> str:
    """Header plus the lines of ``ps`` output whose PID column is in ``pids``."""
    lines = output.splitlines()
    if not lines:
        return ""
    header = lines[0]
    try:
        col = header.split().index("PID")
    except ValueError:
        raise ValueError("couldn't find PID field in ps output") from None
    wanted = set(pids)
    out = [header]
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in wanted:
            out.append(line)
    return "\n".join(out) + "\n"
