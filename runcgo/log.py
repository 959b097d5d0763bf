"""runc-compatible log lines for ``--log`` / ``--log-format``.

containerd's shim shows users the last ``"level":"error"`` JSON line of the
log file, so every fatal error ends up there as one line.  Deliberately not
the ``logging`` package: this runs on every Docker call and must cost nothing.
"""

from __future__ import annotations

import os
import sys
import time

from . import _json as json
from ._lite import suppress

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_state: dict[str, object] = {"fd": -1, "format": "text", "level": 20}


def configure(path: str | None, fmt: str = "text", debug: bool = False) -> None:
    """Open ``--log`` once, close-on-exec.

    One fd rather than an open per line: the container's init logs too, and
    after pivot_root a path would name a file inside the container (or fail and
    spill onto the container's stderr).  The fd follows the init across fork and
    is gone at its execve.
    """
    _state["format"] = fmt
    _state["level"] = 10 if debug else 20
    old = _state["fd"]
    if isinstance(old, int) and old >= 0:
        os.close(old)
        _state["fd"] = -1
    if path:
        with suppress(OSError):  # if it can't be opened, lines go to stderr instead
            _state["fd"] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)


def _now() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def _format(level: str, msg: str) -> str:
    if _state["format"] == "json":
        return json.dumps({"level": level, "msg": msg, "time": _now()})
    return f'time="{_now()}" level={level} msg={json.dumps(msg)}'


def emit(level: str, msg: str) -> None:
    if _LEVELS[level] < int(_state["level"]):  # type: ignore[call-overload]
        return
    line = _format(level, msg) + "\n"
    fd = _state["fd"]
    if isinstance(fd, int) and fd >= 0:
        try:
            os.write(fd, line.encode())
            return
        except OSError:
            pass
    if level != "error":  # errors are printed by the CLI itself, once
        sys.stderr.write(line)


def debug(msg: str) -> None:
    emit("debug", msg)


def info(msg: str) -> None:
    emit("info", msg)


def warning(msg: str) -> None:
    emit("warning", msg)


def error(msg: str) -> None:
    emit("error", msg)
