"""Hand a seccomp listener fd to the agent at ``listenerPath`` (SCMP_ACT_NOTIFY).

The OCI spec's "container process state": one sendmsg(2) on a unix stream
socket carrying the JSON document below as data and the listener fd as
SCM_RIGHTS; ``fds`` names the passed descriptors in order:

    {"ociVersion": ..., "fds": ["seccompFd"], "pid": N, "metadata": "...",
     "state": {<the container's state.json>}}

The socket is connected *before* the filter is installed (connect/socket may
be blocked or notified by the profile itself, and the agent cannot answer a
notification before it has the fd), ideally by the parent before the child
enters the container's mount namespace, where the host path is unreachable.
"""

from __future__ import annotations

import os
import socket

from .. import _json as json
from ..version import SPEC_VERSION

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

SECCOMP_FD_NAME = "seccompFd"


def connect(path: str) -> socket.socket:
    """Connect to the agent; the socket is close-on-exec (never reaches the container)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, "failed to connect with seccomp agent specified in the "
                                 f"seccomp profile: {path}") from None
    return sock


def process_state(state_json: bytes | None, metadata: str) -> bytes:
    """The JSON document for the agent; ``state_json`` is the container's state."""
    state: dict[str, Any] = json.loads(state_json) if state_json else {}
    pid = state.get("pid") or os.getpid()
    doc = {
        "ociVersion": state.get("ociVersion") or SPEC_VERSION,
        "fds": [SECCOMP_FD_NAME],
        "pid": pid,
        "metadata": metadata,
        "state": state,
    }
    return json.dumps(doc).encode()


def send_listener(sock: socket.socket, listener_fd: int, state_json: bytes | None,
                  metadata: str, path: str = "") -> None:
    """Send state + fd in one sendmsg (the spec allows more, with fds only in the first)."""
    data = process_state(state_json, metadata)
    try:
        sent = socket.send_fds(sock, [data], [listener_fd])
        if sent < len(data):
            sock.sendall(data[sent:])
    except OSError as exc:
        raise OSError(exc.errno, f"send seccomp listener fd to {path or 'agent'}") from None
