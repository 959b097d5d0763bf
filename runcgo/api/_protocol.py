"""Messages between the API process and its fork servers.

One JSON object per SOCK_SEQPACKET datagram (boundaries kept, fds ride along
as SCM_RIGHTS), like the pre-exec child's protocol in kernel/sync.py.  This
module is imported by both sides, so it must not import anyio.

Requests:  ``{"id": n, "op": "create" | "start" | "exec" | ..., ...}``
Replies:   ``{"id": n, "ok": {...}}`` or ``{"id": n, "error": {...}}``
Events:    ``{"type": "exit", "pid": p, "status": code | null}`` -- a child the
           fork server reaped (``null``: someone else reaped it, e.g. a forced
           delete, so the status is unknown).
"""

from __future__ import annotations

from .. import _json as json
from .. import errors as E
from ..kernel import sync as _sync

TYPE_CHECKING = False  # typing: not in the fork server's heap
if TYPE_CHECKING:
    import socket
    from typing import Any

MAX_MSG = 1 << 20
MAX_FDS = 8


def send(sock: socket.socket, msg: dict[str, Any], fds: list[int] | None = None) -> None:
    _sync.send(sock, msg, fds)


def recv(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """The next message and its fds (close-on-exec); (None, []) when the peer is gone."""
    return _sync.recv(sock, MAX_MSG, MAX_FDS)


def encode_error(exc: BaseException) -> dict[str, Any]:
    """An exception as data, so the API re-raises the very class the op raised."""
    if isinstance(exc, E.RuncgoError):
        attrs = {k: v for k, v in vars(exc).items() if _jsonable(v)}
        return {"class": type(exc).__name__, "message": str(exc), "attrs": attrs}
    if isinstance(exc, OSError):
        return {"class": "OSError", "errno": exc.errno or 0, "message": exc.strerror or str(exc),
                "filename": None if exc.filename is None else str(exc.filename)}
    return {"class": "RuncgoError", "message": f"{type(exc).__name__}: {exc}", "attrs": {}}


def decode_error(d: dict[str, Any]) -> BaseException:
    name = d.get("class", "RuncgoError")
    if name == "OSError":
        return SystemFailure(d.get("errno", 0), d.get("message", ""), d.get("filename"))
    cls = getattr(E, name, None)
    if not (isinstance(cls, type) and issubclass(cls, E.RuncgoError)):
        cls = E.RuncgoError
    exc = cls.__new__(cls)
    Exception.__init__(exc, d.get("message", ""))
    vars(exc).update(d.get("attrs") or {})
    return exc


class SystemFailure(OSError, E.RuncgoError):
    """An OSError an op raised (a full state disk: ``write …/init.json``), as
    both an OSError and a RuncgoError -- callers catching the runtime's errors
    get it too -- printed in one line like the CLI's: ``what: errno text``."""

    def __str__(self) -> str:
        what = self.strerror or ""
        if self.filename is not None and str(self.filename) not in what:
            what = f"{what} {self.filename}".strip()
        return f"{what}: {E.strerror(self.errno or 0)}" if what else E.strerror(self.errno or 0)


def _jsonable(v: object) -> bool:
    try:
        json.dumps(v)
    except (TypeError, ValueError):
        return False
    return True
