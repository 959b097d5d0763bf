"""The state store under ``--root``: one 0700 directory per container.

``<root>/<id>/state.json`` (0600, replaced atomically) records what ``create``
built; ``<root>/<id>/exec.fifo`` exists while the container is ``created``.
The status is never trusted from disk: it is computed live from the init
process (gone, zombie, or a recycled pid -> stopped), the FIFO and the freezer.
Operations on one container hold an flock on its directory.
"""

from __future__ import annotations

import fcntl
import os

from . import _json as json
from ._lite import suppress
from ._record import asdict, field, record
from .errors import ContainerExists, ContainerNotFound, DamagedState, InvalidArgument

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

DEFAULT_ROOT = "/run/runcgo"
STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"
_ID_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_ID_CHARS = _ID_FIRST | frozenset("_.-")


def _valid_id(text: str) -> bool:
    """^[a-zA-Z0-9][a-zA-Z0-9_.-]*$ without importing re."""
    return bool(text) and text[0] in _ID_FIRST and all(c in _ID_CHARS for c in text)


def check_id(container_id: str) -> None:
    """Reject IDs that are empty, too long or could escape the root (``../x``)."""
    if not container_id:
        raise InvalidArgument("container id cannot be empty")
    if len(container_id) > 1024 or not _valid_id(container_id):
        raise InvalidArgument(f"invalid container id {container_id!r}: must match "
                              "^[a-zA-Z0-9][a-zA-Z0-9_.-]*$ (at most 1024 characters)")


@record
class ContainerState:
    """What ``create`` recorded; ``status`` is filled in live by ``Store.load``."""

    id: str
    pid: int
    bundle: str
    rootfs: str
    created: str
    init_start_time: int
    annotations: dict[str, str] = field(default_factory=dict)
    oci_version: str = "1.3.0"
    status: str = "created"
    config: dict[str, Any] = field(default_factory=dict)
    cgroup: dict[str, Any] = field(default_factory=dict)
    namespace_paths: dict[str, str] = field(default_factory=dict)
    owner: str = ""
    systemd_cgroup: bool = False

    def oci(self) -> dict[str, Any]:
        """The OCI state document (plus ``created``/``owner`` as runc prints)."""
        d: dict[str, Any] = {
            "ociVersion": self.oci_version, "id": self.id, "pid": self.pid,
            "status": self.status, "bundle": self.bundle, "rootfs": self.rootfs,
            "created": self.created, "owner": self.owner,
        }
        if self.status == "stopped":
            d["pid"] = 0
        if self.annotations:
            d["annotations"] = self.annotations
        return d

    def hook_state(self, status: str | None = None) -> dict[str, Any]:
        """The state JSON passed to hooks on stdin (pure OCI fields)."""
        d: dict[str, Any] = {"ociVersion": self.oci_version, "id": self.id,
                             "status": status or self.status, "pid": self.pid,
                             "bundle": self.bundle}
        if self.annotations:
            d["annotations"] = self.annotations
        return d


def proc_start_time(pid: int) -> tuple[int, str] | None:
    """(starttime, state letter) of ``pid`` from /proc, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = data[data.rindex(b")") + 2:].split()
    return int(rest[19]), rest[0].decode()


class Store:
    """Container directories under one root."""

    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self.root = os.path.abspath(root)

    def dir(self, container_id: str) -> str:
        check_id(container_id)
        return os.path.join(self.root, container_id)

    def exists(self, container_id: str) -> bool:
        return os.path.exists(os.path.join(self.dir(container_id), STATE_FILE))

    def make_dir(self, container_id: str) -> str:
        """Create the container's directory; fail if the ID is taken."""
        d = self.dir(container_id)
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            raise ContainerExists(container_id) from None
        return d

    def remove_dir(self, container_id: str) -> None:
        d = self.dir(container_id)
        with suppress(FileNotFoundError):
            for name in os.listdir(d):
                with suppress(FileNotFoundError):
                    os.unlink(os.path.join(d, name))
            os.rmdir(d)

    def lock(self, container_id: str) -> _DirLock:
        """Serialise operations on one container (flock on its directory):
        ``with store.lock(id): ...``."""
        return _DirLock(self.dir(container_id), container_id)

    def save(self, st: ContainerState) -> None:
        d = self.dir(st.id)
        tmp = os.path.join(d, f".{STATE_FILE}.tmp")
        data = json.dumps(asdict(st)).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(d, STATE_FILE))

    def load(self, container_id: str) -> ContainerState:
        path = os.path.join(self.dir(container_id), STATE_FILE)
        try:
            with open(path, "rb") as f:
                raw = json.loads(f.read())
        except FileNotFoundError:
            raise ContainerNotFound(container_id) from None
        except ValueError as exc:  # _json.JSONError: the offset of the damage
            raise DamagedState(container_id, path, str(exc)) from None
        st = _from_saved(container_id, path, raw)
        st.status = self.live_status(st)
        return st

    def live_status(self, st: ContainerState) -> str:
        info = proc_start_time(st.pid) if st.pid > 0 else None
        if info is None or info[0] != st.init_start_time or info[1] in ("Z", "X"):
            return "stopped"
        if os.path.exists(os.path.join(self.dir(st.id), EXEC_FIFO)):
            return "created"
        if _frozen(st):
            return "paused"
        return "running"

    def ids(self) -> list[str]:
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        return [n for n in names
                if _valid_id(n) and os.path.exists(os.path.join(self.root, n, STATE_FILE))]


_STATE_TYPES: dict[str, type | tuple[type, ...]] = {
    "id": str, "pid": int, "bundle": str, "rootfs": str, "created": str, "init_start_time": int,
    "annotations": dict, "oci_version": str, "status": str, "config": dict, "cgroup": dict,
    "namespace_paths": dict, "owner": str, "systemd_cgroup": bool}


def _from_saved(container_id: str, path: str, raw: Any) -> ContainerState:
    """state.json's fields checked by type, so damage is one line, not a TypeError later."""
    if type(raw) is not dict:
        raise DamagedState(container_id, path, "not a JSON object")
    known = {k: v for k, v in raw.items() if k in _STATE_TYPES}  # newer fields: ignored
    for key, value in known.items():
        want = _STATE_TYPES[key]
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise DamagedState(container_id, path, f"field {key!r} has the wrong type")
    try:
        return ContainerState(**known)
    except TypeError:  # a required field is missing
        missing = [k for k in ("id", "pid", "bundle", "rootfs", "created", "init_start_time")
                   if k not in raw]
        raise DamagedState(container_id, path, f"missing field {missing[0]!r}") from None


class _DirLock:
    __slots__ = ("container_id", "fd", "path")

    def __init__(self, path: str, container_id: str) -> None:
        self.path, self.container_id, self.fd = path, container_id, -1

    def __enter__(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ContainerNotFound(self.container_id) from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(self.fd)
            raise

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # releases the flock


def _frozen(st: ContainerState) -> bool:
    """Ask the cgroup driver recorded in the state whether the container is frozen."""
    if not st.cgroup:
        return False
    from .kernel.cgroups import freezer_state  # cheap; only for running containers

    return freezer_state(st.cgroup) == "frozen"
