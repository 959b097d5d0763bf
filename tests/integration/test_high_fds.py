"""A caller whose low fd numbers are all taken (a long-running engine, the API's
fork server tracking a thousand containers): the runtime's fds are numbered
above FD_SETSIZE (1024) and the init inherits them until exec, past the
container's RLIMIT_NOFILE of 1024.  Regression: the init failed with
"/proc/self/fd: too many open files" and the cleanup then crashed in select()
("filedescriptor out of range"), leaving the cgroup and state dir behind."""

from __future__ import annotations

import subprocess
import sys
import tempfile

from harness import Runcgo, runcgo_cmd

_WRAP = """
import os, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
fd = os.open("/dev/null", os.O_RDONLY)
for n in range(3, 1100):
    if n != fd:
        os.dup2(fd, n, inheritable=True)  # they must survive the exec into runcgo
os.execvp(sys.argv[1], sys.argv[1:])
"""


def _high(runcgo: Runcgo, *args: str) -> subprocess.CompletedProcess[str]:
    """Output to files: a created init inherits them and would hold a pipe open."""
    cmd = [sys.executable, "-c", _WRAP, *runcgo_cmd(), "--root", str(runcgo.root), *args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.run(cmd, stdout=out, stderr=err, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, p.returncode, out.read(), err.read())


def test_lifecycle_with_fds_above_fd_setsize(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sh", "-c", "sleep 300"])
    for args in (("create", "--bundle", str(bundle), cid), ("start", cid),
                 ("exec", cid, "true"), ("kill", cid, "KILL")):
        r = _high(runcgo, *args)
        assert r.returncode == 0, (args, r.stderr)
    r = _high(runcgo, "delete", "--force", cid)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert not (runcgo.root / cid).exists()


def test_failed_create_with_fds_above_fd_setsize_cleans_up(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["/no/such/program"])
    r = _high(runcgo, "create", "--bundle", str(bundle), cid)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and "/no/such/program" in r.stderr, r.stderr
    assert not (runcgo.root / cid).exists()
