"""Network devices: bringing up ``lo`` in a new network namespace.

One ioctl pair instead of pyroute2 (whose import alone costs ~200 ms).
"""

from __future__ import annotations

import _socket  # not ``socket``: see kernel/sync.py
import fcntl
import struct

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        if flags & IFF_UP:
            return
        try:
            fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))
        except OSError as exc:
            raise OSError(exc.errno, "bring up lo") from None
    finally:
        s.close()
