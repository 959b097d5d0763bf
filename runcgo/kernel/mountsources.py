"""Open bind-mount sources with the runtime's privileges, for a user-namespaced init.

In a new user namespace the init is root only in name on the host's files:
a bind source below a 0700 directory owned by host root is unreachable to
it (EACCES, or ENOENT from the existence checks), although the runtime that
was asked to mount it can read it.  So the setup child forks an *opener*
before it enters the user namespace.  Once the setup child has its final
mount namespace, it hands the opener that namespace (an fd to
/proc/self/ns/mnt); the opener -- still host root, in the host's user
namespace -- joins it, opens every source O_PATH and sends the fds back.
The init then mounts from /proc/self/fd/N: the kernel needs no permission
on the path any more, and the fds belong to the container's mount
namespace, as a bind mount's source must (an fd opened in the host's mount
namespace would be refused with EINVAL).
"""

from __future__ import annotations

import os

from .._record import record
from . import sync as S
from . import syscalls as sc

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    import _socket

    from ..spec import Mount
    from .idmapmount import IdmapRequest


@record
class Opener:
    pid: int
    sock: _socket.socket
    sources: dict[int, tuple[str, str]]  # mount index -> (source, destination)


def bind_sources(mounts: list[Mount]) -> dict[int, tuple[str, str]]:
    """Index -> (source, destination) of the bind mounts in ``mounts``."""
    from . import mountopts

    out = {}
    for i, m in enumerate(mounts):
        if m.source and (m.type == "bind" or mountopts.parse(m.options).is_bind):
            out[i] = (m.source, m.destination)
    return out


def start(sources: dict[int, tuple[str, str]],
          idmaps: dict[int, IdmapRequest] | None = None) -> Opener:
    """Fork the opener (call before entering the user namespace).  For the mounts in
    ``idmaps`` it sends a detached idmapped copy of the source (idmapmount.py)
    instead of an O_PATH fd: only host root may idmap a host filesystem."""
    ours, theirs = S.pair()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the opener
        ours.close()
        try:
            _serve(theirs, sources, idmaps or {})
        except BaseException as exc:
            try:
                S.send(theirs, {"type": "error", "errno": getattr(exc, "errno", 0) or 0,
                                "what": str(getattr(exc, "strerror", "") or exc)})
            finally:
                os._exit(1)
        os._exit(0)
    theirs.close()
    return Opener(pid, ours, sources)


def _serve(sock: _socket.socket, sources: dict[int, tuple[str, str]],
           idmaps: dict[int, IdmapRequest]) -> None:
    msg, fds = S.recv(sock)
    if msg is None or len(fds) != 1:
        return
    sc.setns(fds[0], sc.CLONE_NEWNS, "the container's mount namespace")
    os.close(fds[0])
    for index, (source, dest) in sources.items():
        try:
            if index in idmaps:
                from .idmapmount import clone_idmapped

                fd = clone_idmapped(source, idmaps[index], dest)
            else:
                fd = os.open(source, os.O_PATH | os.O_CLOEXEC)
        except OSError as exc:
            raise OSError(exc.errno, f"bind mount source {source} for {dest}"
                          + (f": {exc.strerror}" if index in idmaps else "")) from None
        S.send(sock, {"type": "source", "index": index}, [fd])
        os.close(fd)
    S.send(sock, {"type": "done"})


def collect(opener: Opener) -> dict[int, int]:
    """In the final mount namespace: mount index -> O_PATH fd of its source."""
    got: dict[int, int] = {}
    try:
        nsfd = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        try:
            S.send(opener.sock, {"type": "mntns"}, [nsfd])
        finally:
            os.close(nsfd)
        while True:
            msg, fds = S.recv(opener.sock)
            if msg is None:
                raise RuntimeError("bind mount sources: the opener exited without reporting")
            if msg["type"] == "error":
                if msg["errno"]:
                    raise OSError(int(msg["errno"]), str(msg["what"]))
                raise RuntimeError(f"bind mount sources: {msg['what']}")
            if msg["type"] == "done":
                return got
            got[int(msg["index"])] = fds[0]
    except BaseException:
        for fd in got.values():
            os.close(fd)
        raise
    finally:
        opener.sock.close()
        os.waitpid(opener.pid, 0)
