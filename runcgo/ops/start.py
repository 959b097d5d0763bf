"""``start``: release the init blocked on the exec FIFO, then run poststart hooks."""

from __future__ import annotations

import errno
import os

from .._lite import suppress
from ..errors import InvalidState, SetupError
from ..state import EXEC_FIFO, ContainerState, Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..spec import Hooks


def saved_hooks(st: ContainerState) -> Hooks | None:
    raw = st.config.get("hooks")
    if not raw:
        return None
    from ..spec import Hooks, convert  # only when there are hooks (spec is ~0.5 ms to import)

    return convert(raw, Hooks, "$.hooks")  # type: ignore[no-any-return]


async def start(store: Store, container_id: str) -> ContainerState:
    with store.lock(container_id):
        st = store.load(container_id)
        if st.status == "stopped":
            raise InvalidState("cannot start a container that has stopped")
        if st.status != "created":
            raise InvalidState(f"cannot start an already {st.status} container")
        fifo = os.path.join(store.dir(container_id), EXEC_FIFO)
        _release(fifo, st.pid)
        with suppress(FileNotFoundError):
            os.unlink(fifo)
        st.status = "running"
    run_logged_hooks("poststart", st, "running")
    return st


def run_logged_hooks(kind: str, st: ContainerState, status: str) -> None:
    """poststart/poststop hooks, if the container has any: the hook machinery (~0.5 ms of
    imports) is loaded only then; Docker's containers have none."""
    hooks = st.config.get("hooks")
    if not hooks or (isinstance(hooks, dict) and not hooks.get(kind)):
        return  # (a malformed "hooks" goes on: saved_hooks names it in one line)
    from . import hooks as H

    H.run_logged(kind, saved_hooks(st), kind, st, status)


def _release(fifo: str, pid: int) -> None:
    """Write the byte the init is blocked reading from the exec FIFO.

    The init holds the FIFO open for reading; if it died there is no reader
    and the non-blocking open fails with ENXIO instead of hanging.
    """
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise SetupError("start", fifo, 0, "container init exited before start") from None
        raise
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)
