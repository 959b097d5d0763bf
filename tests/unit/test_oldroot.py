"""Which mounts --no-pivot hides (kernel/oldroot.py): parsing and selection, no root needed."""

from __future__ import annotations

import os
from pathlib import Path

from runcgo.kernel import oldroot

MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
23 22 0:21 / /proc rw,nosuid shared:2 - proc proc rw
24 22 0:22 / /sys rw,nosuid shared:3 - sysfs sysfs rw
25 23 0:30 / /proc/sys/fs/binfmt_misc rw shared:4 - binfmt_misc binfmt_misc rw
26 22 254:0 /srv/b/rootfs /srv/b\\040x/rootfs rw - ext4 /dev/vda rw
27 26 0:40 / /srv/b\\040x/rootfs/proc rw - proc proc rw
28 22 0:21 /sys /mnt/procsys ro - proc proc rw
"""


def parse(tmp_path: Path) -> list[oldroot.MountEntry]:
    f = tmp_path / "mountinfo"
    f.write_text(MOUNTINFO)
    fd = os.open(f, os.O_RDONLY)
    try:
        oldroot.read_mountinfo(fd)  # re-reading the same fd gives the same answer
        return oldroot.read_mountinfo(fd)
    finally:
        os.close(fd)


def test_mountinfo_fields_and_escapes(tmp_path: Path) -> None:
    entries = parse(tmp_path)
    assert [e.mount_id for e in entries] == [22, 23, 24, 25, 26, 27, 28]
    assert entries[4].mountpoint == "/srv/b x/rootfs" and entries[4].root == "/srv/b/rootfs"
    assert entries[1].parent_id == 22 and entries[1].fstype == "proc"


def test_only_full_proc_and_sysfs_outside_the_rootfs(tmp_path: Path) -> None:
    entries = parse(tmp_path)
    picked = [e.mountpoint for e in entries if oldroot.is_host_pseudo_fs(e, "/srv/b x/rootfs")]
    # not binfmt_misc, not the container's own /proc, not a partial (bind) proc mount
    assert picked == ["/proc", "/sys"]
