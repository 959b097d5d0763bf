"""Seccomp: compile an OCI profile to BPF (cached), load it with seccomp(2).

INTERFACE CONTRACT:

    prepare(profile: LinuxSeccomp | None) -> Prepared | None   # parent side, before fork;
        compiles (or fetches from the cache) the BPF program; raises ConfigError on bad input
    load(prepared: Prepared, state_json: bytes | None = None) -> None
        # in the child, as late as possible (right before exec); for SCMP_ACT_NOTIFY it
        # sends the listener fd + state to listenerPath

Why a cache: Docker sends the same profile for every container, and compiling
it costs pyseccomp's import (it shells out to ldconfig) plus libseccomp's work.
The finished program is stored under ``$RUNCGO_SECCOMP_CACHE`` (default
/run/runcgo/seccomp-cache), keyed by the sha256 of the parts of the profile that
shape the program + architecture + libseccomp version, so the warm path is a
hash, one small read and one seccomp(2) call, with no pyseccomp import.

The cache is trusted only if it is a directory owned by us and writable by
nobody else, and every entry carries a checksum: a planted or torn file must
never become a container's filter.

Ordering for the caller (what runc does): with ``noNewPrivileges`` the filter
is loaded right before exec; without it seccomp(2) needs CAP_SYS_ADMIN, so it
must be loaded before the capabilities are dropped (then the profile must
allow what remains: capset, setresuid, ...).  For SCMP_ACT_NOTIFY, prepare()
already connects to ``listenerPath`` (a host path, unreachable after
pivot_root); ``Prepared.fds()`` must survive the child's fd clean-up until
load(), and the parent calls ``Prepared.close()`` after forking.
"""

from __future__ import annotations

import os
import stat

from .._lite import suppress
from .._struct import encode, replace
from ..errors import ConfigError
from ..spec import LinuxSeccomp
from . import seccomp_bpf as bpf
from .seccomp_actions import ACTIONS, ARCHES, FLAGS, OPS, WITH_ERRNO

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:
    import socket

try:  # the builtin module: hashlib would load OpenSSL (~2.5 ms) on every create
    from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover
    from hashlib import sha256

CACHE_ENV = "RUNCGO_SECCOMP_CACHE"
DEFAULT_CACHE = "/run/runcgo/seccomp-cache"
_FORMAT = b"runcgo-seccomp-v1"
_SUM = 32  # sha256 trailer on every cache entry
_MAX_ERRNO = 4095
_U64 = (1 << 64) - 1
#: Syscalls the runtime itself makes after the filter is in place and before the
#: agent holds the listener fd (sendmsg), or writes of its own that an agent must
#: not see (write: refused by runc too, so a profile valid for one is valid for both).
_NO_NOTIFY = frozenset({"sendmsg", "write"})
_WHERE = "$.linux.seccomp"


class Prepared:
    """A compiled filter ready to be loaded in the child (survives fork as is)."""

    __slots__ = ("bpf", "cache_hit", "flags", "listener_metadata", "listener_path",
                 "listener_sock", "notify")

    def __init__(self, program: bytes, flags: int, *, notify: bool = False,
                 listener_path: str | None = None, listener_metadata: str = "",
                 cache_hit: bool = False) -> None:
        self.bpf = program
        self.flags = flags
        self.notify = notify
        self.listener_path = listener_path
        self.listener_metadata = listener_metadata
        self.listener_sock: socket.socket | None = None
        self.cache_hit = cache_hit

    def fds(self) -> list[int]:
        """Descriptors the child must keep open until load()."""
        return [self.listener_sock.fileno()] if self.listener_sock is not None else []

    def close(self) -> None:
        """Drop the parent's copy of the listener connection (after fork, or on failure)."""
        if self.listener_sock is not None:
            self.listener_sock.close()
            self.listener_sock = None


# --- validation (cheap, every create) -------------------------------------

def validate(profile: LinuxSeccomp) -> None:
    """Check everything the compiler would trip over, with the JSON path of the field."""
    if profile.default_action not in ACTIONS:
        raise ConfigError(f"unknown action {profile.default_action!r}", f"{_WHERE}.defaultAction")
    if profile.default_action == "SCMP_ACT_NOTIFY":
        raise ConfigError("SCMP_ACT_NOTIFY cannot be the default action",
                          f"{_WHERE}.defaultAction")
    _check_errno(profile.default_action, profile.default_errno_ret, f"{_WHERE}.defaultErrnoRet")
    for i, arch in enumerate(profile.architectures or ()):
        if arch not in ARCHES:
            raise ConfigError(f"unknown architecture {arch!r}", f"{_WHERE}.architectures[{i}]")
    for i, flag in enumerate(profile.flags or ()):
        if flag not in FLAGS:
            raise ConfigError(f"unknown seccomp flag {flag!r}", f"{_WHERE}.flags[{i}]")
    notify = False
    for i, rule in enumerate(profile.syscalls or ()):
        where = f"{_WHERE}.syscalls[{i}]"
        if not rule.names:
            raise ConfigError("names must not be empty", f"{where}.names")
        for j, name in enumerate(rule.names):
            if not name or len(name) > 64 or not name.isprintable():
                raise ConfigError(f"invalid syscall name {name!r}", f"{where}.names[{j}]")
        if rule.action not in ACTIONS:
            raise ConfigError(f"unknown action {rule.action!r}", f"{where}.action")
        _check_errno(rule.action, rule.errno_ret, f"{where}.errnoRet")
        if rule.action == "SCMP_ACT_NOTIFY":
            notify = True
            bad = _NO_NOTIFY.intersection(rule.names)
            if bad:
                raise ConfigError(f"SCMP_ACT_NOTIFY cannot be used for the {sorted(bad)[-1]} "
                                  "syscall (the runtime needs it after loading the filter)",
                                  f"{where}.names")
        if len(rule.args or ()) > 6:
            raise ConfigError("at most 6 argument conditions", f"{where}.args")
        for k, arg in enumerate(rule.args or ()):
            if not 0 <= arg.index <= 5:
                raise ConfigError(f"argument index {arg.index} is not 0-5",
                                  f"{where}.args[{k}].index")
            if arg.op not in OPS:
                raise ConfigError(f"unknown operator {arg.op!r}", f"{where}.args[{k}].op")
            for field, val in (("value", arg.value), ("valueTwo", arg.value_two)):
                if not 0 <= val <= _U64:
                    raise ConfigError(f"{val} is not a 64-bit unsigned value",
                                      f"{where}.args[{k}].{field}")
    if notify:
        path = profile.listener_path
        if not path:
            raise ConfigError("SCMP_ACT_NOTIFY needs listenerPath", f"{_WHERE}.listenerPath")
        if len(os.fsencode(path)) >= 108:
            raise ConfigError("socket path too long", f"{_WHERE}.listenerPath")


def _check_errno(action: str, value: int | None, where: str) -> None:
    if value is None:
        return
    if action not in WITH_ERRNO:
        raise ConfigError(f"errnoRet is not supported for {action}", where)
    if not 0 <= value <= _MAX_ERRNO:
        raise ConfigError(f"errno {value} is outside 0-{_MAX_ERRNO}", where)


def uses_notify(profile: LinuxSeccomp) -> bool:
    return any(r.action == "SCMP_ACT_NOTIFY" for r in profile.syscalls or ())


# --- flags and kernel features ---------------------------------------------

_flag_support: dict[int, bool] = {}


def _supported(flag: int) -> bool:
    if flag not in _flag_support:
        _flag_support[flag] = bpf.flag_supported(flag)
    return _flag_support[flag]


def load_flags(profile: LinuxSeccomp, notify: bool) -> int:
    """seccomp(2) flags: the profile's, minus what this kernel lacks, plus what notify needs."""
    flags = 0
    for name in profile.flags or ():
        value = FLAGS[name]
        if value == bpf.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV and not notify:
            _debug("seccomp: %s without a notify rule has no effect, ignored", name)
            continue
        if not _supported(value):
            _debug("seccomp: flag %s not supported by the running kernel, ignored", name)
            continue
        flags |= value
    if notify:
        flags |= bpf.SECCOMP_FILTER_FLAG_NEW_LISTENER
        if flags & bpf.SECCOMP_FILTER_FLAG_TSYNC:
            # TSYNC and NEW_LISTENER conflict (EINVAL) unless TSYNC_ESRCH says how to fail
            flags |= bpf.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
    return flags


def _check_actions(profile: LinuxSeccomp) -> None:
    used = {profile.default_action, *(r.action for r in profile.syscalls or ())}
    for name in used:
        if not bpf.action_supported(ACTIONS[name]):
            raise ConfigError(f"{name} is not supported by the running kernel", _WHERE)


# --- cache -----------------------------------------------------------------

def cache_dir() -> str:
    return os.environ.get(CACHE_ENV) or DEFAULT_CACHE


def _libseccomp_version() -> str:
    """Version of the libseccomp that would compile (a cheap dlopen, no ldconfig)."""
    import ctypes

    class _V(ctypes.Structure):
        _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]

    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError:
        return "none"
    lib.seccomp_version.restype = ctypes.POINTER(_V)
    v = lib.seccomp_version().contents
    return f"{v.major}.{v.minor}.{v.micro}"


def cache_key(profile: LinuxSeccomp) -> str:
    """sha256 over what shapes the program (flags and listener are applied at load)."""
    shape = replace(profile, flags=None, listener_path=None,
                                    listener_metadata=None)
    h = sha256(_FORMAT)
    for part in (encode(shape), os.uname().machine.encode(),
                 _libseccomp_version().encode()):
        h.update(b"\0" + part)
    return str(h.hexdigest())


def _trusted_dir(path: str, create: bool) -> bool:
    try:
        if create:
            os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()
            and not st.st_mode & 0o022)


def cache_read(directory: str, key: str) -> bytes | None:
    if not _trusted_dir(directory, create=False):
        return None
    try:
        fd = os.open(os.path.join(directory, key + ".bpf"),
                     os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_size > 65536:
            return None
        data = os.read(fd, st.st_size + 1)
    finally:
        os.close(fd)
    program, digest = data[:-_SUM], data[-_SUM:]
    if len(data) <= _SUM or sha256(program).digest() != digest:
        _debug("seccomp: cache entry %s is corrupt, ignored", key)
        return None
    return program


def cache_write(directory: str, key: str, program: bytes) -> None:
    """Atomic (write + rename); failure only costs the next create a compile."""
    if not _trusted_dir(directory, create=True):
        _debug("seccomp: cache dir %s unusable", directory)
        return
    final = os.path.join(directory, key + ".bpf")
    tmp = f"{final}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        try:
            os.write(fd, program + sha256(program).digest())
        finally:
            os.close(fd)
        os.rename(tmp, final)
    except OSError as exc:
        _debug("seccomp: cannot write cache entry %s: %s", final, exc)
        with suppress(OSError):
            os.unlink(tmp)


# --- the contract ----------------------------------------------------------

def compile_program(profile: LinuxSeccomp) -> tuple[bytes, bool]:
    """(program, cache hit?) — the cold path imports pyseccomp, the warm one does not."""
    directory = cache_dir()
    key = cache_key(profile)
    program = cache_read(directory, key)
    if program is not None:
        return program, True
    from . import seccomp_compile  # heavy: pyseccomp + libseccomp

    program = seccomp_compile.compile_profile(profile)
    cache_write(directory, key, program)
    return program, False


def prepare(profile: LinuxSeccomp | None) -> Prepared | None:
    """Validate and compile ``profile`` in the parent; None when there is no profile."""
    if profile is None:
        return None
    validate(profile)
    _check_actions(profile)
    notify = uses_notify(profile)
    program, hit = compile_program(profile)
    prepared = Prepared(program, load_flags(profile, notify), notify=notify,
                        listener_path=profile.listener_path if notify else None,
                        listener_metadata=profile.listener_metadata or "", cache_hit=hit)
    if notify and prepared.listener_path:
        from . import seccomp_notify

        prepared.listener_sock = seccomp_notify.connect(prepared.listener_path)
    return prepared


def load(prepared: Prepared, state_json: bytes | None = None) -> None:
    """Install the filter in the calling (child) process; hand the listener to the agent."""
    sock = prepared.listener_sock
    if prepared.notify:
        from . import seccomp_notify

        if sock is None:
            assert prepared.listener_path
            sock = seccomp_notify.connect(prepared.listener_path)
    listener = bpf.seccomp_set_filter(prepared.bpf, prepared.flags)
    if listener < 0 or sock is None:
        return
    try:
        from . import seccomp_notify

        seccomp_notify.send_listener(sock, listener, state_json, prepared.listener_metadata,
                                     prepared.listener_path or "")
    finally:
        os.close(listener)
        sock.close()
        prepared.listener_sock = None


def _debug(msg: str, *args: object) -> None:
    """Debug log through runcgo's own logger (``logging`` costs ~5 ms to import)."""
    from .. import log

    log.debug(msg % args if args else msg)


def describe(prepared: Prepared) -> dict[str, Any]:
    """Small summary for debug logs and tests."""
    return {"instructions": len(prepared.bpf) // bpf.INSN.size, "flags": prepared.flags,
            "notify": prepared.notify, "cache_hit": prepared.cache_hit}
