"""``run``: create + start, then (foreground) wait with signal forwarding + delete."""

from __future__ import annotations

from .._lite import suppress
from ..kernel import signals
from ..kernel import syscalls as sc
from ..state import Store
from .create import CreateOptions, create
from .delete import delete
from .start import start


async def run(store: Store, container_id: str, opts: CreateOptions, *, detach: bool = False,
              keep: bool = False) -> int:
    """Returns the container's exit code (0 when detached)."""
    if not detach:
        # The init's own parent (the setup child) exits at once; as subreaper we
        # inherit the init and can reap it and read its exit status.
        sc.set_subreaper()
    st = await create(store, container_id, opts)
    forwarder = None if detach else signals.Forwarder(st.pid)
    try:
        if forwarder is not None:
            forwarder.install()
        await start(store, container_id)
    except BaseException:
        if forwarder is not None:
            forwarder.restore()
        with suppress(Exception):
            await delete(store, container_id, force=True)
        raise
    if forwarder is None:
        return 0
    try:
        code = forwarder.wait()
    finally:
        if not keep:
            await delete(store, container_id, force=True)
    return code
