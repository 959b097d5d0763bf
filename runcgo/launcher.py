"""The fast ``runcgo`` console script, written for the install it finds itself in.

Docker calls the runtime four times per container, so interpreter start-up is paid four times.
A console script made by pip starts its interpreter with ``site`` (venv set-up, every ``.pth``
file, setuptools' editable finder) and pip's wrapper imports ``re``: ~7 ms more per call than
``python -I -S`` with the paths spelled out.  pip keeps no flags on a ``#!python`` line (it
writes ``#!<interpreter>`` and drops the rest) and has no post-install hook, and the right
interpreter and paths are only known on the installed machine.  So:

- the script pip installs (``scripts/console/runcgo``, a ``script-files`` entry) runs once
  with ``site`` and calls :func:`replace_slow_script`, which writes a launcher beside it, made
  here from what that run sees (the real interpreter, the directory runcgo is imported from,
  the ``sys.path`` entries ``site`` added), and atomically puts it in the script's place;
- ``python -m runcgo.launcher [PATH]`` does the same at once (scripts/bootstrap.sh, packagers,
  a Dockerfile's ``RUN`` line), so even the first call is fast.

The launcher is the same shape as the one scripts/bootstrap.sh has always written, so both
installs start alike.  If anything fails (a read-only bin dir, an unknown layout), the pip
script stays and keeps working, only slower.  A later ``pip install`` puts the generic script
back, and its first run writes a fresh launcher for the new install.
"""

from __future__ import annotations

import os
import sys

from ._lite import suppress

# In the generic script pip installs: a launcher replaces only a file that carries it.
GENERIC_MARKER = b"# runcgo: generic console script"
# In every launcher written here (bench.py names the launcher it measured by it).
LAUNCHER_MARKER = "# Written by runcgo.launcher"

TEMPLATE = """#!{python} -IS
{marker} for this install (see there for why): the interpreter with
# -I -S (no site, no .pth files, no editable finder) and the install's paths spelled out.
# Written by: {via}
import sys
sys.path[:0] = {paths!r}
from runcgo.__main__ import main
main()
"""


def _base_path(python: str) -> list[str]:
    """``sys.path`` of ``python -I -S``: the standard library's entries, which the launcher
    gets without being told."""
    import subprocess

    out = subprocess.run([python, "-I", "-S", "-c", "import sys; print('\\0'.join(sys.path))"],
                         capture_output=True, check=True, timeout=30).stdout
    return out.decode().rstrip("\n").split("\0")


def install_paths(python: str) -> list[str]:
    """The directories this process imports runcgo and its dependencies from, in order,
    less those a bare ``python -I -S`` has anyway.

    The directory holding the ``runcgo`` package comes first: for an editable install it is
    the source tree, which setuptools' editable finder (a ``site`` hook) would otherwise map.
    Entries that are not directories (path-hook placeholders) are left out.
    """
    import runcgo

    here = os.path.dirname(os.path.dirname(os.path.abspath(runcgo.__file__)))
    base = set(_base_path(python))
    paths = [here]
    for p in sys.path[1:]:
        if p and p not in base and p not in paths and os.path.isdir(p):
            paths.append(os.path.abspath(p))
    return paths


def render(python: str, paths: list[str], via: str = "python -m runcgo.launcher") -> str:
    via = " ".join(via.split())  # one comment line, whatever was passed
    return TEMPLATE.format(python=python, marker=LAUNCHER_MARKER, paths=paths, via=via)


def write(path: str, via: str = "python -m runcgo.launcher") -> str:
    """Write the launcher for this interpreter and install to ``path`` (atomically, keeping
    the mode and owner of what was there); ``via`` says who asked (bench.py reports it).
    Returns the launcher's text."""
    python = os.path.realpath(sys.executable)  # the real binary, never a venv link or a shim
    if not (python and os.access(python, os.X_OK)):
        raise OSError(2, f"interpreter {sys.executable!r} not found")
    text = render(python, install_paths(python), via)
    try:
        st = os.stat(path)
        mode, owner = st.st_mode & 0o7777, (st.st_uid, st.st_gid)
    except FileNotFoundError:
        mode, owner = 0o755, None
    tmp = f"{path}.runcgo-{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        if owner is not None and os.geteuid() == 0:
            os.chown(tmp, *owner)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    return text


def replace_slow_script(argv0: str) -> None:
    """Called by the generic script on each of its runs (normally only the first): put a
    launcher in its place.  Silent on failure: the generic script still works."""
    if sys.flags.no_site or os.environ.get("RUNCGO_KEEP_SCRIPT"):
        return
    try:
        path = os.path.realpath(argv0)
        with open(path, "rb") as f:
            if GENERIC_MARKER not in f.read(1024):
                return
        if not os.access(os.path.dirname(path), os.W_OK):
            return
        write(path, "the first run of the script pip installed")
    except Exception:  # any failure leaves the working generic script
        return


def main(argv: list[str] | None = None) -> int:
    """``python -m runcgo.launcher [--via WHO] [PATH]``: write the launcher to PATH (default:
    ``runcgo`` in this interpreter's scripts directory); WHO is recorded in it."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        sys.stdout.write(main.__doc__ or "")
        sys.stdout.write("\n")
        return 0
    via = "python -m runcgo.launcher"
    if len(args) >= 2 and args[0] == "--via":
        via, args = args[1], args[2:]
    if len(args) > 1 or (args and args[0].startswith("-")):
        sys.stderr.write("usage: python -m runcgo.launcher [--via WHO] [PATH]\n")
        return 2
    if args:
        path = args[0]
    else:
        import sysconfig

        path = os.path.join(sysconfig.get_path("scripts"), "runcgo")
    try:
        write(path, via)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"runcgo.launcher: write {path}: {exc}\n")
        return 1
    sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
