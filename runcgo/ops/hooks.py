"""Runtime-namespace hooks (prestart, createRuntime, poststart, poststop)."""

from __future__ import annotations

from .. import _json as json
from .. import log
from ..kernel import hooks as K
from ..state import ContainerState

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..spec import Hooks


def state_json(st: ContainerState, status: str) -> bytes:
    return json.dumps(st.hook_state(status)).encode()


def run_fatal(kind: str, hooks: Hooks | None, attr: str, st: ContainerState, status: str,
              on_start: Callable[[int], None] | None = None) -> None:
    """Run hooks whose failure fails the operation (``on_start``: see K.run_hook)."""
    if hooks is None:
        return
    K.run_hooks(kind, getattr(hooks, attr), state_json(st, status), on_start)


def run_logged(kind: str, hooks: Hooks | None, attr: str, st: ContainerState, status: str) -> None:
    """poststart/poststop: failures are logged as warnings, never fatal (spec)."""
    if hooks is None:
        return
    for index, hook in enumerate(getattr(hooks, attr) or ()):
        try:
            K.run_hook(kind, hook, state_json(st, status), index=index)
        except K.HookError as exc:
            log.warning(str(exc))
