"""Typed errors shared by the CLI and the library API.

Every error renders as one line a person can act on; the CLI prints exactly
``str(error)`` and the library raises the same objects.  The wording keeps the
phrases containerd matches on ("does not exist", "container not running").
"""

from __future__ import annotations

import errno as _errno
import os


def one_line(text: str) -> str:
    """``text`` with control characters escaped: a newline in a user's argument, a
    file name or a JSON key must not split an error into several lines."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class RuncgoError(Exception):
    """Base class: a failure with a one-line, user-facing message."""

    exit_code = 1

    def __str__(self) -> str:
        return one_line(super().__str__())


class ConfigError(RuncgoError):
    """The bundle's config (or a process.json) is invalid.

    ``path`` is the JSON path of the offending field (``$.process.user.uid``)
    or empty when the document as a whole is unreadable.
    """

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}" if path else message)


class InvalidArgument(RuncgoError):
    """A command-line argument is malformed (bad ID, unknown signal, ...)."""


class ContainerNotFound(RuncgoError):
    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        super().__init__(f"container {container_id} does not exist")


class ContainerExists(RuncgoError):
    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        super().__init__(f"container {container_id} already exists")


class StateDamaged(RuncgoError):
    """The container's directory exists but its state can't be read.

    A runtime killed mid-``create``, a full disk or a hand edit can leave
    ``state.json`` missing, empty or cut short.  Only ``delete --force`` can
    clean up then (from the init record written early in ``create``), so the
    message says so.
    """

    def __init__(self, container_id: str, reason: str) -> None:
        self.container_id = container_id
        self.reason = reason
        super().__init__(f"container {container_id}: {reason} (damaged state: "
                         f"`delete --force {container_id}` removes what is left of it)")


class ContainerNotRunning(RuncgoError):
    def __init__(self, container_id: str, status: str = "stopped") -> None:
        self.container_id = container_id
        self.status = status
        super().__init__(f"container {container_id} is {status}: container not running")


class InvalidState(RuncgoError):
    """The operation is not allowed in the container's current status."""


class SetupError(RuncgoError):
    """Kernel-level setup failed; carries the operation, path and errno.

    Raised in the parent from the pre-exec child's ``error`` message, so the
    user sees e.g. ``mount "proc" on /proc: permission denied``.
    """

    def __init__(self, op: str, path: str = "", errno: int = 0, message: str = "") -> None:
        self.op = op
        self.path = path
        self.errno = errno
        self.detail = message
        text = message or op
        if errno and not message:
            text = f"{op}{' ' + path if path else ''}: {strerror(errno)}"
        super().__init__(text)

    def to_dict(self) -> dict[str, object]:
        return {"op": self.op, "path": self.path, "errno": self.errno, "message": str(self)}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> SetupError:
        return cls(str(d.get("op", "")), str(d.get("path", "")), int(d.get("errno", 0) or 0),  # type: ignore[call-overload]
                   str(d.get("message", "")))


def strerror(err: int) -> str:
    """Lower-case errno text, as Go's syscall.Errno prints ("permission denied")."""
    text = os.strerror(err) if err else "unknown error"
    return text[:1].lower() + text[1:]


def describe_oserror(exc: OSError) -> str:
    """One line for an OSError raised by a syscall wrapper (which names call and path)."""
    if exc.errno is None:
        return str(exc)
    base = strerror(exc.errno)
    if exc.strerror and exc.strerror != os.strerror(exc.errno):
        return f"{exc.strerror}: {base}"
    if exc.filename:
        return f"{exc.filename}: {base}"
    return base


ENOENT = _errno.ENOENT
