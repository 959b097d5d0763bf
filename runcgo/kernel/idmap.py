"""Writing a new user namespace's uid/gid maps, for root and for everyone else.

The kernel lets an unprivileged process map exactly one id of its own (its
euid, its egid) into a namespace it made -- and the gid map only after
``deny`` has been written to ``setgroups``, else a user could drop a group
that denies it access.  Anything more (several ranges, subordinate ids from
/etc/subuid) needs the setuid helpers ``newuidmap``/``newgidmap`` (Debian's
``uidmap``), which check the ranges against /etc/subuid and /etc/subgid.

As runc: write the map file directly; on EPERM, hand the same map to the
helper, whose own error is shown verbatim.  ``setgroups`` is denied only for
an unprivileged caller whose gid map is its own egid alone -- with the
helpers, groups stay usable (additionalGids work).
"""

from __future__ import annotations

import errno
import os
import shutil

from ..errors import SetupError

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..spec import IDMapping

__all__ = ["needs_mapping_tool", "write_maps"]

_TOOLS = {"uid_map": "newuidmap", "gid_map": "newgidmap"}


def needs_mapping_tool(gid_mappings: Sequence[IDMapping] | None) -> bool:
    """runc's test: anything but ``0 <egid> 1`` in the gid map needs newgidmap."""
    maps = list(gid_mappings or ())
    return not (len(maps) == 1 and maps[0].container_id == 0 and
                maps[0].host_id == os.getegid() and maps[0].size == 1)


def write_maps(pid: int, uid_mappings: Sequence[IDMapping] | None,
               gid_mappings: Sequence[IDMapping] | None) -> None:
    """Fill /proc/PID/{uid_map,gid_map} (the process waits in its new namespace)."""
    if os.geteuid() != 0 and not needs_mapping_tool(gid_mappings):
        _write(f"/proc/{pid}/setgroups", "deny", "write setgroups")
    for name, maps in (("uid_map", uid_mappings), ("gid_map", gid_mappings)):
        if not maps:
            continue
        data = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        path = f"/proc/{pid}/{name}"
        try:
            with open(path, "w") as f:
                f.write(data)
        except PermissionError:
            _run_tool(_TOOLS[name], pid, maps, path, data)
        except OSError as exc:
            raise _map_error(name, path, data, exc.errno or 0) from None


def _write(path: str, data: str, op: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(data)
    except OSError as exc:
        raise SetupError(op, path, exc.errno or 0,
                         f"write {path}: {os.strerror(exc.errno or 0).lower()}") from None


def _map_error(name: str, path: str, data: str, err: int) -> SetupError:
    return SetupError("write " + name, path, err,
                      f"write {path} ({data.strip()!r}): {os.strerror(err).lower()}")


def _run_tool(tool: str, pid: int, maps: Sequence[IDMapping], path: str,
              data: str) -> None:
    """newuidmap PID ID HOSTID SIZE...; its stderr, verbatim, is the error."""
    exe = shutil.which(tool)
    if exe is None:
        raise SetupError("write " + tool, path, errno.EPERM,
                         f"write {path} ({data.strip()!r}): operation not permitted, and "
                         f"{tool} was not found in $PATH (install Debian's uidmap) to map "
                         "ids other than your own")
    import subprocess

    args = [exe, str(pid)]
    for m in maps:
        args += [str(m.container_id), str(m.host_id), str(m.size)]
    out = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        said = " ".join((out.stderr or out.stdout).split()) or f"exit status {out.returncode}"
        raise SetupError(tool, path, errno.EPERM,
                         f"{tool} {' '.join(args[1:])} failed: {said}")
