"""``events``: runc-shaped JSON events for a container.

``--stats`` prints one ``{"type": "stats", "id": ..., "data": {...}}`` and
stops.  Otherwise a stats event goes out every ``interval`` seconds and an
``{"type": "oom", "id": ...}`` event as soon as the kernel reports an OOM
(v1 eventfd / v2 memory.events, see kernel/cgroups/oom.py), until the
container stops.

The core is a plain generator (:func:`iter_events`) that blocks in poll(2):
the CLI prints from it without any event loop.  :func:`events` wraps it for
async callers, moving each blocking step to a worker thread.
"""

from __future__ import annotations

import select
import time
from collections.abc import AsyncIterator, Generator

from ..errors import ContainerNotRunning
from ..state import Store

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any


def _stats_event(container_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "stats", "id": container_id, "data": data}


def iter_events(store: Store, container_id: str, *, stats: bool = False,
                interval: float = 5.0) -> Generator[dict[str, Any], None, None]:
    """Yield event dicts; returns when the container stops (or after one, with ``stats``)."""
    from ..kernel.cgroups import from_state
    from ..kernel.cgroups.oom import watch

    st = store.load(container_id)
    if st.status == "stopped":
        raise ContainerNotRunning(container_id, st.status)
    mgr = from_state(st.cgroup)
    if stats:
        yield _stats_event(container_id, mgr.stats())
        return
    if interval <= 0:
        raise ValueError("interval must be greater than 0")
    watcher = watch(mgr.memory_dir())
    poller = select.poll()
    if watcher is not None:
        poller.register(watcher.fileno(), select.POLLIN)
    try:
        next_tick = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= next_tick:
                if store.live_status(st) == "stopped":
                    return
                yield _stats_event(container_id, mgr.stats())
                next_tick = now + interval
            poller.poll(max(0.0, next_tick - time.monotonic()) * 1000)
            if watcher is not None:
                for _ in range(watcher.check()):
                    yield {"type": "oom", "id": container_id}
            if store.live_status(st) == "stopped" or not mgr.exists():
                return
    finally:
        if watcher is not None:
            watcher.close()


async def events(store: Store, container_id: str, *, stats: bool = False,
                 interval: float = 5.0) -> AsyncIterator[dict[str, Any]]:
    """Async form of :func:`iter_events` (each blocking wait runs in a worker thread)."""
    import anyio.to_thread

    gen = iter_events(store, container_id, stats=stats, interval=interval)
    done = object()
    try:
        while True:
            item = await anyio.to_thread.run_sync(next, gen, done, abandon_on_cancel=True)
            if item is done:
                return
            assert isinstance(item, dict)
            yield item
    finally:
        gen.close()
