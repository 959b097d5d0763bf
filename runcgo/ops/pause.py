"""``pause`` / ``resume``: freeze and thaw every process of a container.

runc allows pausing a container that is ``created`` as well as ``running``
(the frozen init then stays blocked on its FIFO), and resuming only a paused
one; we keep the same rules and wording.
"""

from __future__ import annotations

from ..errors import ContainerNotRunning, InvalidState
from ..state import Store


async def pause(store: Store, container_id: str) -> None:
    """Freeze the container (v1 freezer FROZEN / v2 cgroup.freeze, waiting for it)."""
    from ..kernel.cgroups import from_state

    with store.lock(container_id):
        st = store.load(container_id)
        if st.status not in ("running", "created"):
            raise ContainerNotRunning(container_id, st.status)
        from_state(st.cgroup).freeze()


async def resume(store: Store, container_id: str) -> None:
    """Thaw a paused container."""
    from ..kernel.cgroups import from_state

    with store.lock(container_id):
        st = store.load(container_id)
        if st.status != "paused":
            raise InvalidState(f"container {container_id} is {st.status}: container not paused")
        from_state(st.cgroup).thaw()
