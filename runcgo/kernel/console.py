"""Pseudo-terminals from the container's own devpts, and the console-socket handoff.

The pty is allocated *inside* the container (``/dev/pts/ptmx`` of its devpts
instance) so that the peer belongs to the container's devpts and shows up
in its ``/dev/pts``.  The peer is opened with TIOCGPTPEER (never by path: a
path could be swapped under us).  The master travels to the caller over
``--console-socket`` as exactly one SCM_RIGHTS fd in one sendmsg -- the
shape containerd's shim accepts.
"""

from __future__ import annotations

import _socket as socket  # not ``socket``: see kernel/sync.py
import fcntl
import os
import struct

from .sync import pack_fds

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCGPTPEER = 0x5441
TIOCSCTTY = 0x540E
# Not from ``termios``: loading that extension costs ~0.4 ms on every create, which imports
# this module for the init (asm-generic values, like the ones above).
TIOCGWINSZ = 0x5413
TIOCSWINSZ = 0x5414


def open_pty(ptmx: str = "/dev/pts/ptmx") -> tuple[int, int, str]:
    """(master, peer, peer's name inside the container) from the given ptmx."""
    try:
        master = os.open(ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise OSError(exc.errno, f"open {ptmx} (is devpts mounted with newinstance?)") from None
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        num = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
        peer = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)  # type: ignore[call-overload]
        return master, int(peer), f"/dev/pts/{num}"
    except BaseException:
        os.close(master)
        raise


def set_size(fd: int, rows: int, cols: int) -> None:
    if rows and cols:
        fcntl.ioctl(fd, TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def get_size(fd: int) -> tuple[int, int]:
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, TIOCGWINSZ, b"\0" * 8))
    return rows, cols


def make_stdio(peer: int) -> None:
    """The peer becomes fds 0/1/2 and the controlling terminal of our new session."""
    for fd in (0, 1, 2):
        os.dup2(peer, fd)
    if peer > 2:
        os.close(peer)
    fcntl.ioctl(0, TIOCSCTTY, 0)


def send_console(socket_path: str, master: int, name: str = "") -> None:
    """Hand the master to whoever listens on ``socket_path`` (one message, one fd)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            s.connect(socket_path)
        except OSError as exc:
            raise OSError(exc.errno, f"connect to console socket {socket_path}") from None
        s.sendmsg([name.encode() or b"pty"],
                  [(socket.SOL_SOCKET, socket.SCM_RIGHTS, pack_fds([master]))])
    finally:
        s.close()


def bind_console(peer_name: str) -> None:
    """Bind the pty peer over /dev/console, as runc does, inside the container."""
    from . import syscalls as sc

    if not os.path.exists("/dev/console"):
        os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600))
    sc.mount(peer_name, "/dev/console", None, sc.MS_BIND)
