"""Lifecycle operations, one module each; every operation is an ``async def``.

Operations that never wait on anything (create, start, state, kill, delete...)
don't suspend, so the CLI drives them with :func:`drive` and no event loop:
Docker calls them four times per container and must not pay for asyncio.
Long-running paths (the PTY relay, the library API) run them under anyio.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Coroutine
    from typing import Any, TypeVar

    T = TypeVar("T")


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that completes without suspending; no event loop needed."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("operation suspended: it needs an event loop (use anyio)")
