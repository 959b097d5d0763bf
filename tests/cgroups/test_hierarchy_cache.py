"""The fork servers' cache of the cgroup mounts (paths.cache_hierarchies): it must
follow the mount table, and a forked child must not trust its parent's copy."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: a private mount namespace")

# Runs in its own process, in a private mount namespace of its own: the tmpfs
# mounted over /sys/fs/cgroup there, and the cgroup2 mount in it, never reach
# the host's mount table.
SCRIPT = r"""
import os, sys
from runcgo.kernel import syscalls as sc
from runcgo.kernel.cgroups import paths
sc.unshare(sc.CLONE_NEWNS)
sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
NEW = "/sys/fs/cgroup/runcgo-cache-test"
def add_mount():
    sc.mount("tmpfs", "/sys/fs/cgroup", "tmpfs", 0)
    os.mkdir(NEW)
    sc.mount("none", NEW, "cgroup2", 0)
paths.cache_hierarchies()
first = paths.hierarchies()
second = paths.hierarchies()
assert first and first == second, (first, second)
assert second is not paths._Cache.value  # callers get their own list
second.clear()
assert paths.hierarchies() == first
pid = os.fork()
if pid == 0:
    # The child's own mount table changes; the parent's cache must not answer.
    sc.unshare(sc.CLONE_NEWNS)
    add_mount()
    os._exit(0 if NEW in [h.mountpoint for h in paths.hierarchies()] else 3)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, "the child used its parent's cache"
assert paths.hierarchies() == first  # the child's mounts were its own
add_mount()
after = paths.hierarchies()
assert NEW not in [h.mountpoint for h in first]
print(len(first), len(after), int(NEW in [h.mountpoint for h in after]))
"""


def test_cache_follows_the_mount_table() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=60, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert out.returncode == 0, out.stderr
    before, after, found = map(int, out.stdout.split())
    assert before > 0 and after == before + 1 and found == 1, out.stdout
