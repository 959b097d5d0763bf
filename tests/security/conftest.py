"""Fork-a-child helpers: apply security settings in a child, exec busybox, look.

The child runs the setup callable (as the pre-exec child would), then execs
/bin/busybox, whose output shows what the kernel really applied
(/proc/self/status, errno messages).  A setup failure is reported on the
child's stderr with exit status 120 so the test sees the message.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

BUSYBOX = "/bin/busybox"



@dataclass
class Result:
    status: int
    stdout: str
    stderr: str

    @property
    def exit_code(self) -> int:
        return os.waitstatus_to_exitcode(self.status)


def run_child(setup: Callable[[], None], argv: list[str] | None) -> Result:
    """Fork; the child runs ``setup`` then execs busybox ``argv`` (or exits 0 if None)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            setup()
            if argv is not None:
                os.execv(BUSYBOX, ["busybox", *argv])
        except BaseException:
            os.write(2, traceback.format_exc().encode())
            code = 120
        os._exit(code)
    os.close(out_w)
    os.close(err_w)
    out = _drain(out_r)
    err = _drain(err_r)
    _, status = os.waitpid(pid, 0)
    return Result(status, out, err)


def _drain(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def status_fields(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, val = line.partition(":")
        if sep:
            out[key.strip()] = val.strip()
    return out


@pytest.fixture(autouse=True)
def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if not os.path.exists(BUSYBOX):
        pytest.skip("needs busybox-static")


@pytest.fixture
def seccomp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache dir per test (pytest removes tmp_path)."""
    cache = tmp_path / "seccomp-cache"
    monkeypatch.setenv("RUNCGO_SECCOMP_CACHE", str(cache))
    return cache
