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
from .errors import (
    ContainerExists,
    ContainerNotFound,
    InvalidArgument,
    StateDamaged,
)

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

DEFAULT_ROOT = "/run/runcgo"
STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"
# Written by ``create`` before state.json exists (see write_init_record).
INIT_RECORD = "init.json"
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
    # A CNI attachment's summary (net/summary.py): name, interface, addresses, ports.
    network: dict[str, Any] = field(default_factory=dict)

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
        if self.network:  # an extra field, as created/owner: the OCI fields stay as they are
            d["network"] = self.network
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
        _write_atomic(self.dir(st.id), STATE_FILE, json.dumps(asdict(st)).encode())

    def load(self, container_id: str) -> ContainerState:
        path = os.path.join(self.dir(container_id), STATE_FILE)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise ContainerNotFound(container_id) from None
        if not data.strip():
            raise StateDamaged(container_id, f"{path}: empty")
        try:
            raw = json.loads(data)
        except ValueError as exc:  # _json.JSONError: the offset of the damage
            raise StateDamaged(container_id, f"{path}: {exc}") from None
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
    "namespace_paths": dict, "owner": str, "systemd_cgroup": bool, "network": dict}


def _from_saved(container_id: str, path: str, raw: Any) -> ContainerState:
    """state.json's fields checked by type, so damage is one line, not a TypeError later."""
    if type(raw) is not dict:
        raise StateDamaged(container_id, f"{path}: not a JSON object")
    known = {k: v for k, v in raw.items() if k in _STATE_TYPES}  # newer fields: ignored
    for key, value in known.items():
        want = _STATE_TYPES[key]
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise StateDamaged(container_id, f"{path}: field {key!r} has the wrong type")
    try:
        return ContainerState(**known)
    except TypeError:  # a required field is missing
        missing = [k for k in ("id", "pid", "bundle", "rootfs", "created", "init_start_time")
                   if k not in raw]
        raise StateDamaged(container_id, f"{path}: missing field {missing[0]!r}") from None


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


# -- damaged state -----------------------------------------------------------
# A runtime killed mid-create (or a full disk, or a hand edit) leaves a
# container directory without a usable state.json.  The init record is what
# ``delete --force`` cleans up from then: ``create`` writes it before it makes
# the cgroup and again once the init exists, so whatever the moment of death,
# the cgroup path and the init's identity (pid + start time, never a recycled
# pid) are on disk.


def _write_atomic(dirpath: str, name: str, data: bytes) -> None:
    """Replace ``dirpath/name`` in one rename: a kill never leaves half a file."""
    tmp = os.path.join(dirpath, f".{name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            if os.write(fd, data) != len(data):
                raise OSError(28, os.strerror(28))  # a short write: the disk is full
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(dirpath, name))
    except OSError as exc:
        with suppress(OSError):
            os.unlink(tmp)  # a full disk must not leave half a file behind
        # Name the file: "no space left on device" alone doesn't say where.
        raise OSError(exc.errno, f"write {os.path.join(dirpath, name)}") from None


def write_init_record(store: Store, container_id: str, record: dict[str, Any]) -> None:
    """(Re)write the container's init record: ``cgroup`` (a driver's to_state),
    ``cgroup_made`` (False until create() has returned: the leaf directories
    may or may not exist), ``pid`` and ``init_start_time`` once the init exists."""
    _write_atomic(store.dir(container_id), INIT_RECORD, json.dumps(record).encode())


def read_init_record(store: Store, container_id: str) -> dict[str, Any] | None:
    """The init record, or None if it is missing or unreadable."""
    return read_record(store, container_id, INIT_RECORD)


def write_record(store: Store, container_id: str, name: str, record: dict[str, Any]) -> None:
    """(Re)write one JSON record of the container's directory, atomically."""
    _write_atomic(store.dir(container_id), name, json.dumps(record).encode())


def read_record(store: Store, container_id: str, name: str) -> dict[str, Any] | None:
    """A JSON record of the container's directory, or None if missing or unreadable."""
    try:
        with open(os.path.join(store.dir(container_id), name), "rb") as f:
            raw = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def state_damage(store: Store, container_id: str) -> str | None:
    """Why state.json can't be used (``.../state.json: empty``), or None if it can."""
    try:
        store.load(container_id)
    except ContainerNotFound:
        return "state.json: missing"
    except StateDamaged as exc:
        return exc.reason
    except OSError as exc:
        return f"state.json: {os.strerror(exc.errno or 0).lower()}"
    return None


def load_checked(store: Store, container_id: str, *, locked: bool = False) -> ContainerState:
    """``Store.load``, with damaged state reported as :class:`StateDamaged` (one
    line naming the damage) instead of a parse error or a misleading "does not
    exist".  A directory without state.json whose lock is held belongs to a
    ``create`` still under way: that one does not exist yet.  ``locked``: the
    caller holds the lock itself (then a missing state.json is damage)."""
    d = store.dir(container_id)
    try:
        return store.load(container_id)
    except ContainerNotFound:
        if not os.path.isdir(d) or (not locked and _lock_busy(d)):
            raise
        raise StateDamaged(container_id, "state.json: missing") from None
    except OSError as exc:  # unreadable (EACCES, EIO): damage too
        raise StateDamaged(container_id, f"state.json: {os.strerror(exc.errno or 0).lower()}") from None


def _lock_busy(path: str) -> bool:
    """Whether another process holds the directory's lock (never waits)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
