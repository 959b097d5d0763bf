"""Run criu and turn a failure into one line: criu's first ``Error`` from its log.

criu writes little to stderr; what went wrong is in the log file it keeps in the
work directory (``dump.log``, ``restore.log``, -v4 as runc asks).  The first
``Error (file.c:N): ...`` line is the cause (later ones are consequences), so
that is what the user sees, with the log's path for the rest.
"""

from __future__ import annotations

import os

from .. import command
from .binary import CriuError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


# Errors criu logs while probing the kernel and then carries on without the
# feature (no /dev/net/tun in the guest): never the cause of a failure.
# RLIMIT_NOFILE: criu tries to raise its own limit to fs.nr_open, which fails without
# CAP_SYS_RESOURCE (as on the hosts tested here), and goes on.
_PROBES = ("tun: Unable to create tun", "rlimit: Can't setup RLIMIT_NOFILE")


def first_error(log_path: str) -> str | None:
    """The first ``Error (...)`` line of a criu log, without criu's prefix."""
    try:
        with open(log_path, errors="replace") as f:
            for line in f:
                at = line.find("Error (")
                if at >= 0:
                    text = line[at:].strip()
                    close = text.find("): ")
                    text = text[close + 3:] if close >= 0 else text
                    if not text.startswith(_PROBES):
                        return text
    except OSError:
        return None
    return None


def run(argv: Sequence[str], what: str, log_path: str, *, pass_fds: Sequence[int] = (),
        before_exec: Callable[[], None] | None = None, timeout: float | None = None) -> None:
    """Run criu to completion.  ``before_exec`` runs in the child (a single-threaded
    CLI or fork-server process), e.g. to enter the new container's cgroup."""
    try:
        out = command.run(argv, stdin_null=False, pass_fds=pass_fds, before_exec=before_exec,
                          timeout=timeout)
    except TimeoutError:
        raise CriuError(f"criu {what}: timed out after {timeout} s (log: {log_path})") from None
    except OSError as exc:
        raise CriuError(f"criu {what}: {exc.strerror}: {argv[0]}") from None
    if out.returncode != 0:
        reason = first_error(log_path)
        if reason is None:
            lines = [ln.strip() for ln in (out.stderr or "").splitlines() if ln.strip()]
            reason = lines[0] if lines else f"exit status {out.returncode}"
        raise CriuError(f"criu {what} failed: {reason} (log: {log_path})")


PTY_SLAVE_MAJOR = 136  # Unix98 pty slaves: 136-143


def tty_keys(pid: int) -> list[str]:
    """criu's ``tty[rdev:dev]`` keys of the init's stdio terminals (a container's
    console, whose master is outside the dumped tree).  criu 3.17's command line
    refuses such a tree ("Unable to find a master"), with --external tty[...] and
    --shell-job too (tried): only its RPC has orphan-pts-master."""
    keys: list[str] = []
    for fd in (0, 1, 2):
        try:
            st = os.stat(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if (st.st_mode & 0o170000) == 0o020000 and 136 <= os.major(st.st_rdev) <= 143:
            key = f"tty[{st.st_rdev:x}:{st.st_dev:x}]"
            if key not in keys:
                keys.append(key)
    return keys


def stdio_keys(pid: int) -> list[str]:
    """What the init's fds 0-2 are (``pipe:[123]``, ``/dev/null``, ...), as runc's
    ``descriptors.json`` in the image directory records them."""
    keys = []
    for fd in (0, 1, 2):
        try:
            keys.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            keys.append("")
    return keys
