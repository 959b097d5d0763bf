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

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_state: dict[str, object] = {"path": None, "format": "text", "level": 20}


def configure(path: str | None, fmt: str = "text", debug: bool = False) -> None:
    _state["path"] = path
    _state["format"] = fmt
    _state["level"] = 10 if debug else 20


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
    path = _state["path"]
    if isinstance(path, str):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
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
