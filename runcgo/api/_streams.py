"""anyio byte streams over raw file descriptors (pipe ends, a pty master).

anyio has no public stream type for an arbitrary fd, and its file streams run
every read in a worker thread; these wait for readiness in the event loop
itself (``anyio.wait_readable``), so hundreds of containers' output can be
read from one loop with no thread per stream.
"""

from __future__ import annotations

import errno
import os

import anyio
import anyio.abc


class _FdResource:
    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    async def aclose(self) -> None:
        self.close()
        await anyio.lowlevel.checkpoint()

    def close(self) -> None:
        """Close now; a task blocked on this fd gets ClosedResourceError."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            anyio.notify_closing(fd)
            os.close(fd)

    def _check(self) -> int:
        if self._fd < 0:
            raise anyio.ClosedResourceError
        return self._fd


class FdReceiveStream(_FdResource, anyio.abc.ByteReceiveStream):
    """The read end of a pipe, or a pty master (EIO = the last slave closed = EOF)."""

    async def receive(self, max_bytes: int = 65536) -> bytes:
        while True:
            await anyio.wait_readable(self._check())
            try:
                data = os.read(self._check(), max_bytes)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:
                    raise anyio.EndOfStream from None
                raise
            if not data:
                raise anyio.EndOfStream
            return data


class FdSendStream(_FdResource, anyio.abc.ByteSendStream):
    """The write end of a pipe (closing it is the container's end of input)."""

    async def send(self, item: bytes) -> None:
        view = memoryview(item)
        while view:
            await anyio.wait_writable(self._check())
            try:
                n = os.write(self._check(), view)
            except BlockingIOError:
                continue
            except BrokenPipeError:
                raise anyio.BrokenResourceError from None
            view = view[n:]
