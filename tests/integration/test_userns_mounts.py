"""Bind mounts in a user-namespaced container whose sources its mapped root can't reach.

The runtime was asked to mount them and can read them, so the bind must work
(runc's userns.bats): the sources are opened with the runtime's privileges.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness import Runcgo, into_userns


def inaccessible_bundle(runcgo: Runcgo, args: list[str]) -> tuple[str, Path]:
    cid, bundle = runcgo.bundle(args)
    into_userns(bundle)
    cfg = json.loads((bundle / "config.json").read_text())
    for n in (1, 2):
        src = bundle / f"source-inaccessible-{n}"
        (src / "dir").mkdir(parents=True)
        (src / "dir" / "foo.txt").write_text(f"data {n}\n")
        os.chmod(src, 0o700)  # host root only: uid 100000 can't even look inside
        cfg["mounts"].append({"source": f"source-inaccessible-{n}/dir",
                              "destination": f"/tmp/mount-{n}", "options": ["bind"]})
    (bundle / "config.json").write_text(json.dumps(cfg))
    return cid, bundle


def test_two_inaccessible_bind_sources(runcgo: Runcgo) -> None:
    cid, bundle = inaccessible_bundle(
        runcgo, ["sh", "-c", "cat /tmp/mount-1/foo.txt /tmp/mount-2/foo.txt; ls /proc/self/fd"])
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[:4] == ["data", "1", "data", "2"]
    assert lines[4:] == ["0", "1", "2", "3"]  # no source fd reached the container (3: ls's dir)


def test_inaccessible_bind_sources_then_exec(runcgo: Runcgo) -> None:
    cid, bundle = inaccessible_bundle(runcgo, ["sleep", "60"])
    r = runcgo("run", "-d", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    r = runcgo("exec", cid, "cat", "/tmp/mount-1/foo.txt", "/tmp/mount-2/foo.txt")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "data 1\ndata 2\n"
    pid = runcgo.state(cid)["pid"]
    assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"]
    runcgo("delete", "-f", cid, check=True)


def test_missing_bind_source_is_named(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["true"])
    into_userns(bundle)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["mounts"].append({"source": "/nonexistent-src", "destination": "/mnt", "options": ["bind"]})
    (bundle / "config.json").write_text(json.dumps(cfg))
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 1
    assert "/nonexistent-src" in r.stderr and "no such file or directory" in r.stderr
