"""OCI mount options -> mount(2) flags, propagation, recursive attributes and fs data.

Options the kernel knows as flags become flags; propagation options become a
separate mount(2) call; ``r``-prefixed recursive options (``rro``,
``rnosuid``...) become mount_setattr(2) attributes; everything else is passed
to the filesystem as its data string (``mode=755``, ``size=64k``...).
"""

from __future__ import annotations

from .._record import field, record
from . import syscalls as sc

# name -> (clear?, flag)
_FLAGS: dict[str, tuple[bool, int]] = {
    "defaults": (False, 0),
    "ro": (False, sc.MS_RDONLY), "rw": (True, sc.MS_RDONLY),
    "nosuid": (False, sc.MS_NOSUID), "suid": (True, sc.MS_NOSUID),
    "nodev": (False, sc.MS_NODEV), "dev": (True, sc.MS_NODEV),
    "noexec": (False, sc.MS_NOEXEC), "exec": (True, sc.MS_NOEXEC),
    "sync": (False, sc.MS_SYNCHRONOUS), "async": (True, sc.MS_SYNCHRONOUS),
    "dirsync": (False, sc.MS_DIRSYNC),
    "remount": (False, sc.MS_REMOUNT),
    "mand": (False, sc.MS_MANDLOCK), "nomand": (True, sc.MS_MANDLOCK),
    "noatime": (False, sc.MS_NOATIME), "atime": (True, sc.MS_NOATIME),
    "nodiratime": (False, sc.MS_NODIRATIME), "diratime": (True, sc.MS_NODIRATIME),
    "relatime": (False, sc.MS_RELATIME), "norelatime": (True, sc.MS_RELATIME),
    "strictatime": (False, sc.MS_STRICTATIME), "nostrictatime": (True, sc.MS_STRICTATIME),
    "lazytime": (False, sc.MS_LAZYTIME), "nolazytime": (True, sc.MS_LAZYTIME),
    "nosymfollow": (False, sc.MS_NOSYMFOLLOW), "symfollow": (True, sc.MS_NOSYMFOLLOW),
    "silent": (False, sc.MS_SILENT), "loud": (True, sc.MS_SILENT),
    "bind": (False, sc.MS_BIND), "rbind": (False, sc.MS_BIND | sc.MS_REC),
}
_PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}
# Options that runc accepts but that have no kernel meaning for us to pass on.
_IGNORED = frozenset({"tmpcopyup", "idmap", "ridmap"})


@record
class MountOptions:
    flags: int = 0
    propagation: list[int] = field(default_factory=list)
    attr_set: int = 0
    attr_clr: int = 0
    data: list[str] = field(default_factory=list)

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND)

    @property
    def data_str(self) -> str | None:
        return ",".join(self.data) or None


def parse(options: list[str] | None) -> MountOptions:
    mo = MountOptions()
    for opt in options or ():
        if opt in _FLAGS:
            clear, flag = _FLAGS[opt]
            if clear:
                mo.flags &= ~flag
            else:
                mo.flags |= flag
        elif opt in _PROPAGATION:
            mo.propagation.append(_PROPAGATION[opt])
        elif opt.startswith("r") and opt[1:] in sc.MOUNT_ATTR:
            mo.attr_set |= sc.MOUNT_ATTR[opt[1:]]
        elif opt == "rrw":
            mo.attr_clr |= sc.MOUNT_ATTR["ro"]
        elif opt.startswith("r") and opt[1:].startswith("no") is False and f"no{opt[1:]}" in sc.MOUNT_ATTR:
            mo.attr_clr |= sc.MOUNT_ATTR[f"no{opt[1:]}"]
        elif opt in _IGNORED:
            continue
        else:
            mo.data.append(opt)
    return mo
