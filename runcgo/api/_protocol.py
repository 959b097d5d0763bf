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

import array
import json
import os
import socket
from typing import Any

from .. import errors as E

MAX_MSG = 1 << 20
MAX_FDS = 8


def send(sock: socket.socket, msg: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(msg, separators=(",", ":")).encode()
    if fds:
        sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    else:
        sock.send(data)


def recv(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """The next message and its fds (close-on-exec); (None, []) when the peer is gone."""
    fds = array.array("i")
    data, ancdata, _flags, _addr = sock.recvmsg(
        MAX_MSG, socket.CMSG_SPACE(MAX_FDS * fds.itemsize), socket.MSG_CMSG_CLOEXEC)
    for level, kind, cdata in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(cdata[: len(cdata) - (len(cdata) % fds.itemsize)])
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    msg: dict[str, Any] = json.loads(data)
    return msg, list(fds)


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
        return OSError(d.get("errno", 0), d.get("message", ""), d.get("filename"))
    cls = getattr(E, name, None)
    if not (isinstance(cls, type) and issubclass(cls, E.RuncgoError)):
        cls = E.RuncgoError
    exc = cls.__new__(cls)
    Exception.__init__(exc, d.get("message", ""))
    vars(exc).update(d.get("attrs") or {})
    return exc


def _jsonable(v: object) -> bool:
    try:
        json.dumps(v)
    except (TypeError, ValueError):
        return False
    return True
