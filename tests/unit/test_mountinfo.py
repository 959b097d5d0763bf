"""kernel.mountinfo.unescape: the kernel's own escapes, and malformed fields kept as written."""

from __future__ import annotations

import os
import subprocess
import tempfile

import pytest

from runcgo.kernel.mountinfo import unescape


@pytest.mark.parametrize(("field", "path"), [
    ("/plain/path", "/plain/path"),
    ("/a\\040b", "/a b"),
    ("/tab\\011x", "/tab\tx"),
    ("/nl\\012x", "/nl\nx"),
    ("/back\\134slash", "/back\\slash"),
    ("\\040\\040", "  "),
    ("/caf\u00e9", "/caf\u00e9"),
])
def test_kernel_escapes(field: str, path: str) -> None:
    assert unescape(field) == path


@pytest.mark.parametrize("field", [
    "\\", "/end\\", "/end\\0", "/end\\04", "/x\\999", "/x\\08a", "/x\\400", "/x\\abc", "\\\\",
])
def test_malformed_escapes_are_kept(field: str) -> None:
    assert unescape(field) == field


def test_surrogates_pass_through() -> None:
    raw = os.fsdecode(b"/bad\xff\\040name")
    assert unescape(raw) == os.fsdecode(b"/bad\xff name")


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_real_mountinfo_round_trip() -> None:
    """A mount point with every escaped character, read back from the kernel's mountinfo
    in a private mount namespace (nothing is mounted on the host)."""
    with tempfile.TemporaryDirectory() as tmp:
        target = os.path.join(tmp, "a b\tc\\d\ne")
        os.mkdir(target)
        out = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             'mount -t tmpfs none "$1" && cat /proc/self/mountinfo', "sh", target],
            capture_output=True, check=True).stdout
        points = [unescape(os.fsdecode(line.split(b" ")[4])) for line in out.splitlines()]
        assert target in points
