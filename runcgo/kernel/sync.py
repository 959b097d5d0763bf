"""Parent <-> pre-exec child messages: one JSON object per SOCK_SEQPACKET datagram.

SEQPACKET keeps message boundaries, so no length prefix is needed; file
descriptors ride along as SCM_RIGHTS (``console-fd``).  Message types:
``go``, ``userns``/``userns-done``, ``pid``, ``hooks``/``hooks-done``,
``ready`` and ``error{op, path, errno, message}``.
"""

from __future__ import annotations

# The C module, not ``socket``: that one imports ``selectors``, ``enum`` and
# ``collections`` (~1.5 ms of every command's start).  socket.socket objects
# (the API's) are _socket.socket subclasses, so both kinds work here.
import _socket as socket
import os
import struct

from .. import _json as json
from ..errors import strerror

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

MAX_MSG = 1 << 16


def pair() -> tuple[socket.socket, socket.socket]:
    """A connected SEQPACKET pair; both ends close-on-exec."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    return a, b


def pack_fds(fds: list[int]) -> bytes:
    """SCM_RIGHTS payload: C ints.  (struct, not ``array``: importing array
    imports ``collections``, ~0.8 ms of every ``create``.)"""
    return struct.pack(f"{len(fds)}i", *fds)


def send(sock: socket.socket, msg: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(msg).encode()
    if fds:
        sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, pack_fds(fds))])
    else:
        sock.send(data)


def recv(sock: socket.socket, max_msg: int = MAX_MSG,
         max_fds: int = 16) -> tuple[dict[str, Any] | None, list[int]]:
    """The next message and any fds it carried (close-on-exec); (None, []) when
    the peer is gone."""
    fds: list[int] = []
    data, ancdata, _flags, _addr = sock.recvmsg(
        max_msg, socket.CMSG_SPACE(max_fds * _INT), socket.MSG_CMSG_CLOEXEC)
    for level, kind, cdata in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            n = len(cdata) // _INT
            fds.extend(struct.unpack(f"{n}i", cdata[: n * _INT]))
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    msg: dict[str, Any] = json.loads(data)
    return msg, fds


_INT = struct.calcsize("i")


def error_message(exc: BaseException, op: str = "") -> dict[str, Any]:
    """Turn an exception in the child into an ``error`` message with context.

    Our syscall wrappers put "call path" in ``strerror``; os.* functions put
    the libc text there and the path in ``filename``.  Either way the user
    reads "<what> <where>: <errno text>".
    """
    if isinstance(exc, OSError) and exc.errno:
        text = strerror(exc.errno)
        if exc.strerror and exc.strerror != os.strerror(exc.errno):
            what = exc.strerror  # from kernel.syscalls: already names call and path
        else:
            what = " ".join(x for x in (op, str(exc.filename or "")) if x) or "setup"
        return {"type": "error", "op": op or what.split(" ", 1)[0],
                "path": str(exc.filename or ""), "errno": exc.errno, "message": f"{what}: {text}"}
    return {"type": "error", "op": op, "path": "", "errno": 0, "message": str(exc) or repr(exc)}
