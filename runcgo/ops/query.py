"""``state`` and ``list``: read-only views of the store."""

from __future__ import annotations

from ..state import ContainerState, Store, load_checked


async def state(store: Store, container_id: str) -> ContainerState:
    return load_checked(store, container_id)


async def list_containers(store: Store) -> list[ContainerState]:
    out = []
    for cid in store.ids():
        try:
            out.append(store.load(cid))
        except Exception:  # a container deleted while we list it
            continue
    return out
