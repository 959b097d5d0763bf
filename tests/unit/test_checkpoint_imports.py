"""What a command-line checkpoint or restore loads before criu runs.

runc's checkpoint.bats gives a lazy page server two seconds, from the runtime's start,
to report ready on --status-fd.  Under the guest's software emulation every module costs
~15-30 ms, so the path to criu's command line must not pull in subprocess/shutil (~40
modules), ctypes, threading, or the RPC side (protobuf, criu's rpc_pb2), which only a
terminal, a hook or a criu config file needs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from runcgo.kernel import paths, syscalls

REPO = Path(__file__).resolve().parents[2]

FORBIDDEN = ("subprocess", "shutil", "ctypes", "threading", "selectors", "google",
             "runcgo.kernel.syscalls", "runcgo.kernel.criu.request", "runcgo.kernel.criu.rpc",
             "runcgo.kernel.criu.swrk", "typing", "re")

PROBE = """
import os, sys
sys.path[:0] = [{repo!r}]
from runcgo.cli import main  # the CLI's own entry
from runcgo.ops import checkpoint as ck
from runcgo.kernel.criu import argv, binary, run
from runcgo.kernel import paths
fd = os.open({root!r}, os.O_PATH | os.O_DIRECTORY)
print(repr({{"resolved": paths.resolve(fd, "/link/x"), "modules": sorted(sys.modules),
             "config": argv.config_file({{}})}}))
"""


def test_cli_checkpoint_path_loads_nothing_heavy(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("/real")
    code = PROBE.format(repo=str(REPO), root=str(tmp_path))
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True)
    got = ast.literal_eval(out.stdout)
    assert got["resolved"] == "/real/x"  # paths.resolve works without the syscall layer
    assert got["config"] == "/etc/criu/runc.conf"
    loaded = [m for m in got["modules"] if m in FORBIDDEN or m.split(".")[0] in FORBIDDEN]
    assert loaded == []


def test_resolve_flags_are_the_syscall_layers() -> None:
    """paths spells openat2's flags itself (so resolve() doesn't load ctypes)."""
    assert paths._RESOLVE == syscalls.RESOLVE_IN_ROOT | syscalls.RESOLVE_NO_MAGICLINKS
