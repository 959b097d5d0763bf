"""``checkpoint`` / ``restore``: runc's commands, with CRIU doing the work.

What runcgo owns here is everything before CRIU is asked: the container must
exist and run, the image paths must make sense (``--parent-path`` is relative
to ``--image-path`` and must be a directory, as runc insists), and CRIU must be
installed and able to work on this kernel.  When CRIU can't (criu 3.17 fails
its vDSO probe on kernels >= 6.13), the user gets CRIU's own words in one line
rather than a dump that dies half-way.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from ..errors import ContainerNotRunning, InvalidArgument, RuncgoError
from ..state import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._lite import SimpleNamespace


class CriuError(RuncgoError):
    """CRIU is missing or refuses to work here."""


def check_parent_path(image_path: str, parent_path: str | None) -> None:
    """``--parent-path`` names the pre-dump images, relative to ``--image-path``."""
    if not parent_path:
        return
    if os.path.isabs(parent_path):
        raise InvalidArgument(f"--parent-path {parent_path} must be relative (to --image-path)")
    real = os.path.join(image_path, parent_path)
    if not os.path.isdir(real):
        what = "not a directory" if os.path.exists(real) else "no such file or directory"
        raise InvalidArgument(f"invalid --parent-path {parent_path}: {real}: {what}")


def criu_ready(criu: str) -> str:
    """The CRIU binary to use, once ``criu check`` says it can work on this kernel."""
    exe = shutil.which(criu)
    if exe is None:
        raise CriuError(f"CRIU is needed for checkpoint/restore: {criu!r} not found in PATH "
                        "(apt-get install criu)")
    try:
        out = subprocess.run([exe, "check"], capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CriuError(f"{exe} check: {exc}") from None
    if out.returncode != 0:
        lines = [ln.strip() for ln in (out.stderr + out.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "rror" in ln] or lines or [f"exit status {out.returncode}"]
        raise CriuError(f"CRIU cannot work on this system ({exe} check): {errors[-1]}")
    return exe


async def checkpoint(store: Store, container_id: str, a: SimpleNamespace, criu: str) -> None:
    st = store.load(container_id)
    if st.status not in ("running", "paused"):
        raise ContainerNotRunning(container_id, st.status)
    image_path = a.image_path or os.path.join(os.getcwd(), "checkpoint")
    check_parent_path(image_path, a.parent_path)
    criu_ready(criu)
    raise CriuError("checkpoint: CRIU works here, but dumping through CRIU's RPC is not "
                    "implemented in this runcgo release")


async def restore(store: Store, container_id: str, a: SimpleNamespace, criu: str) -> None:
    if store.exists(container_id):
        from ..errors import ContainerExists

        raise ContainerExists(container_id)
    image_path = a.image_path or os.path.join(os.getcwd(), "checkpoint")
    if not os.path.isdir(image_path):
        raise InvalidArgument(f"--image-path {image_path}: no such directory")
    criu_ready(criu)
    raise CriuError("restore: CRIU works here, but restoring through CRIU's RPC is not "
                    "implemented in this runcgo release")
