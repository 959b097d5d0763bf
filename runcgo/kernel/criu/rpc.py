"""criu's own RPC message classes (``rpc_pb2``), found next to the installed criu.

The messages of ``criu swrk`` are defined by criu's ``rpc.proto``; criu packages
ship it compiled for Python as ``pycriu/rpc_pb2.py`` (Debian's and Ubuntu's
``criu``, Fedora's ``python3-criu``).  That file is taken as it is -- never a
hand-written copy of the wire format -- so the messages always match the criu
that will read them.  It needs the ``protobuf`` runtime (``pip install
'runcgo[criu]'``); Debian bookworm's file (protoc 3.21) loads with protobuf 4.21
up to 7.x.

Only the terminal/hook path of checkpoint/restore comes here: protobuf is never
imported by the CLI's other commands.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys
from types import ModuleType

from .binary import CriuError

_NAME = "runcgo._criu_rpc_pb2"  # private: Debian's pycriu package itself isn't imported

# Where criu packages put pycriu (the system Python's site directories).
SEARCH = ("/usr/lib/python3/dist-packages/pycriu/rpc_pb2.py",
          "/usr/lib/python3*/site-packages/pycriu/rpc_pb2.py",
          "/usr/lib64/python3*/site-packages/pycriu/rpc_pb2.py",
          "/usr/local/lib/python3*/dist-packages/pycriu/rpc_pb2.py",
          "/usr/local/lib/python3*/site-packages/pycriu/rpc_pb2.py")


def find(patterns: tuple[str, ...] = SEARCH) -> str | None:
    """The path of criu's ``rpc_pb2.py``: ``$RUNCGO_CRIU_RPC_PB2``, else pycriu's."""
    env = os.environ.get("RUNCGO_CRIU_RPC_PB2")
    if env:
        return env
    for pattern in patterns:
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[-1]
    return None


def load() -> ModuleType:
    """criu's ``rpc_pb2`` module (loaded once: it registers ``rpc.proto`` in
    protobuf's default pool, which refuses a second, different copy)."""
    mod = sys.modules.get(_NAME)
    if mod is not None:
        return mod
    try:
        import google.protobuf  # noqa: F401
    except ImportError:
        raise CriuError("criu's RPC (used for terminal containers and restore hooks) needs "
                        "the protobuf package: pip install 'runcgo[criu]'") from None
    path = find()
    if path is None or not os.path.isfile(path):
        raise CriuError("criu's RPC definitions not found: no pycriu/rpc_pb2.py "
                        f"({path or 'searched ' + ', '.join(SEARCH[:2])}); it comes with "
                        "criu's Python bindings (Debian: criu; Fedora: python3-criu), or "
                        "set RUNCGO_CRIU_RPC_PB2")
    spec = importlib.util.spec_from_file_location(_NAME, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
        mod.criu_req, mod.criu_resp, mod.criu_opts  # noqa: B018 (the messages we use)
    except Exception as exc:  # protobuf's errors have no common base worth naming
        raise CriuError(f"criu's RPC definitions {path} do not load with this protobuf: "
                        f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
    sys.modules[_NAME] = mod
    return mod
