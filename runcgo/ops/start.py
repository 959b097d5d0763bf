"""``start``: release the init blocked on the exec FIFO, then run poststart hooks."""

from __future__ import annotations

import contextlib
import os
import select

from ..errors import InvalidState, SetupError
from ..spec import Hooks, decode
from ..state import EXEC_FIFO, ContainerState, Store
from . import hooks as H


def saved_hooks(st: ContainerState) -> Hooks | None:
    raw = st.config.get("hooks")
    if not raw:
        return None
    import msgspec

    return decode(msgspec.json.encode(raw), Hooks, "saved hooks")  # type: ignore[no-any-return]


async def start(store: Store, container_id: str) -> ContainerState:
    with store.lock(container_id):
        st = store.load(container_id)
        if st.status == "stopped":
            raise InvalidState("cannot start a container that has stopped")
        if st.status != "created":
            raise InvalidState(f"cannot start an already {st.status} container")
        fifo = os.path.join(store.dir(container_id), EXEC_FIFO)
        _release(fifo, st.pid)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(fifo)
        st.status = "running"
    H.run_logged("poststart", saved_hooks(st), "poststart", st, "running")
    return st


def _release(fifo: str, pid: int) -> None:
    """Open the FIFO for reading (which unblocks the init) and read its byte.

    Non-blocking open plus a pidfd in the same poll: if the init died we must
    not hang on a FIFO that will never get a writer.
    """
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        os.close(fd)
        raise SetupError("start", fifo, 0, "container init is gone") from None
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        while True:
            for ready_fd, _ev in poller.poll():
                if ready_fd == fd:
                    data = os.read(fd, 1)
                    if data:
                        return
                    poller.unregister(fd)
                else:
                    raise SetupError("start", fifo, 0, "container init exited before start")
    finally:
        os.close(pidfd)
        os.close(fd)
