"""Idmapped bind mounts (mounts[].uidMappings/gidMappings, idmap/ridmap), on tmpfs and ext4.

Files are made on the host with known owners; the container lists them and
writes new ones; the host then checks where the writes landed.  runc 1.1.5
has no idmapped mounts (it ignores the fields: the files show as 65534 in a
user namespace), so these are checks of runcgo against the kernel's rules.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import Runcgo, into_userns

MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def _fstype(path: Path) -> str:
    return subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture(params=["tmpfs", "ext4"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A directory on the filesystem type asked for, holding files owned by 0 and 1000
    (and world-writable, so a mapped uid may create files in it)."""
    src = tmp_path / "src"
    src.mkdir()
    mounted = False
    if request.param == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=777", "rl-idmap", str(src)], check=True)
        mounted = True
    elif not _fstype(src).startswith("ext"):
        pytest.skip(f"{src} is on {_fstype(src)}, not ext4 (the host's filesystem is the ext4 case)")
    try:
        os.chmod(src, 0o777)
        for name, uid in (("root-file", 0), ("user-file", 1000)):
            (src / name).write_text(name)
            os.chown(src / name, uid, uid)
        yield src
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(src)], check=True)


def _bundle(runcgo: Runcgo, src: Path, script: str, *, userns: bool = True,
            mount: dict[str, object] | None = None) -> tuple[str, Path]:
    cid, bundle = runcgo.bundle(["sh", "-c", script])
    if userns:
        into_userns(bundle)
    cfg = json.loads((bundle / "config.json").read_text())
    m: dict[str, object] = {"destination": "/data", "type": "bind", "source": str(src),
                            "options": ["bind"], "uidMappings": MAP, "gidMappings": MAP}
    m.update(mount or {})
    cfg["mounts"].append({k: v for k, v in m.items() if v is not None})
    cfg["root"]["readonly"] = True
    (bundle / "config.json").write_text(json.dumps(cfg))
    (bundle / "rootfs" / "data").mkdir(exist_ok=True)
    return cid, bundle


def _owners(out: str) -> dict[str, str]:
    """`ls -ln` lines -> name: "uid:gid"."""
    rows = [line.split() for line in out.splitlines() if line.startswith("-")]
    return {r[-1]: f"{r[2]}:{r[3]}" for r in rows}


def test_owners_seen_through_the_mapping_in_a_userns(runcgo: Runcgo, source: Path) -> None:
    """Mount mapping = the container's (0 -> 100000): host files keep their owners inside,
    instead of showing as 65534; root's and uid 1000's writes land as 0 and 1000."""
    script = "ls -ln /data; grep ' /data ' /proc/self/mountinfo; touch /data/by-root"
    cid, bundle = _bundle(runcgo, source, script)
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert _owners(r.stdout) == {"root-file": "0:0", "user-file": "1000:1000"}
    assert "idmapped" in next(x for x in r.stdout.splitlines() if " /data " in x)
    st = os.stat(source / "by-root")
    assert (st.st_uid, st.st_gid) == (0, 0)
    # uid 1000's write, through an exec that runs as 1000
    cid2, bundle2 = _bundle(runcgo, source, "sleep 100")
    assert runcgo("run", "-d", "--bundle", str(bundle2), cid2).returncode == 0
    e = runcgo("exec", "--user", "1000:1000", cid2, "sh", "-c", "touch /data/by-1000; id -u")
    assert e.returncode == 0 and e.stdout == "1000\n", e.stderr
    st = os.stat(source / "by-1000")
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    assert runcgo("delete", "--force", cid2).returncode == 0


def test_without_idmap_the_same_files_are_nobodys(runcgo: Runcgo, source: Path) -> None:
    """The control: a plain bind in the same user namespace shows 65534."""
    cid, bundle = _bundle(runcgo, source, "ls -ln /data",
                          mount={"uidMappings": None, "gidMappings": None})
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert _owners(r.stdout) == {"root-file": "65534:65534", "user-file": "65534:65534"}


def test_idmap_option_takes_the_containers_mappings(runcgo: Runcgo, source: Path) -> None:
    cid, bundle = _bundle(runcgo, source, "ls -ln /data",
                          mount={"uidMappings": None, "gidMappings": None,
                                 "options": ["bind", "idmap"]})
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert _owners(r.stdout) == {"root-file": "0:0", "user-file": "1000:1000"}


def test_idmapped_without_a_user_namespace(runcgo: Runcgo, source: Path) -> None:
    """Host root's container, mapping 0 -> 5000 (2000 ids): on-disk N is seen as 5000+N;
    a write by mapped uid 5000 lands on disk as 0."""
    m = [{"containerID": 0, "hostID": 5000, "size": 2000}]
    cid, bundle = _bundle(runcgo, source, "ls -ln /data", userns=False,
                          mount={"uidMappings": m, "gidMappings": m})
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert _owners(r.stdout) == {"root-file": "5000:5000", "user-file": "6000:6000"}
    cid2, bundle2 = _bundle(runcgo, source, "touch /data/by-5000", userns=False,
                            mount={"uidMappings": m, "gidMappings": m})
    runcgo.edit(bundle2, "process.user", {"uid": 5000, "gid": 5000})
    r = runcgo("run", "--bundle", str(bundle2), cid2)
    assert r.returncode == 0, r.stderr
    st = os.stat(source / "by-5000")
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_ridmap_maps_submounts_idmap_does_not(runcgo: Runcgo, tmp_path: Path) -> None:
    """rbind takes a submount along; only ridmap idmaps it too."""
    src = tmp_path / "tree"
    sub = src / "sub"
    sub.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "rl-idmap-sub", str(sub)], check=True)
    try:
        (sub / "f").write_text("x")
        os.chown(sub / "f", 1000, 1000)
        seen = {}
        for opt in ("idmap", "ridmap"):
            cid, bundle = _bundle(runcgo, src, "ls -ln /data/sub",
                                  mount={"options": ["rbind", opt]})
            r = runcgo("run", "--bundle", str(bundle), cid)
            assert r.returncode == 0, r.stderr
            seen[opt] = _owners(r.stdout)["f"]
        assert seen == {"idmap": "65534:65534", "ridmap": "1000:1000"}
    finally:
        subprocess.run(["umount", "-l", str(sub)], check=True)


@pytest.mark.parametrize(("mount", "field", "words"), [
    ({"type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}, "$.mounts[",
     "only supported for bind mounts"),
    ({"gidMappings": None}, ".gidMappings", "both uid and gid mappings"),
])
def test_bad_idmapped_mounts(runcgo: Runcgo, tmp_path: Path, mount: dict[str, object],
                             field: str, words: str) -> None:
    src = tmp_path / "plain"
    src.mkdir()
    cid, bundle = _bundle(runcgo, src, "true", mount=mount)
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and field in r.stderr and words in r.stderr
    assert not (runcgo.root / cid).exists()


def test_features_lists_idmap(runcgo: Runcgo) -> None:
    r = runcgo("features")
    f = json.loads(r.stdout)
    assert f["linux"]["mountExtensions"]["idmap"]["enabled"] is True
    assert {"idmap", "ridmap"} <= set(f["mountOptions"])
