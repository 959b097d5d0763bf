"""Warnings parity with runc: a config runc runs silently, runcgo runs silently.

Engines copy every stderr line of the runtime into their logs, so a warning that
runc does not print is noise on every container.  The reference is runc's own
default config (``runc spec``), which lists ambient capabilities without an
inheritable set: the kernel cannot raise them, runc skips them without a word.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import TEST_CG_PREFIX, Runcgo

RUNC = shutil.which("runc", path="/usr/sbin:/usr/bin:/sbin:/bin")


@pytest.fixture
def runc_default_bundle(runcgo: Runcgo) -> tuple[str, Path]:
    if RUNC is None:
        pytest.skip("runc is not installed")
    cid, bundle = runcgo.bundle()
    (bundle / "config.json").unlink()
    subprocess.run([RUNC, "spec", "--bundle", str(bundle)], check=True)
    cfg = json.loads((bundle / "config.json").read_text())
    assert cfg["process"]["capabilities"]["ambient"] and "inheritable" not in cfg["process"]["capabilities"]
    # The only edits: no terminal (no tty here), a command that ends, our cgroup prefix.
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sh", "-c", "echo hello"]
    cfg["linux"]["cgroupsPath"] = f"/{TEST_CG_PREFIX}{cid}"
    (bundle / "config.json").write_text(json.dumps(cfg))
    return cid, bundle


def test_runc_default_config_runs_without_warnings(runcgo: Runcgo, runc_default_bundle) -> None:
    cid, bundle = runc_default_bundle
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert (r.returncode, r.stdout, r.stderr) == (0, "hello\n", "")
    for step in (("create", "--bundle", str(bundle), cid), ("start", cid), ("delete", "-f", cid)):
        r = runcgo(*step)
        assert (r.returncode, r.stderr) == (0, ""), (step, r.stderr)


def test_skipped_ambient_caps_still_shown_with_debug(runcgo: Runcgo, runc_default_bundle) -> None:
    cid, bundle = runc_default_bundle
    r = runcgo("--debug", "run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert "ambient CAP_KILL skipped: not both permitted and inheritable" in r.stderr
    assert "level=debug" in r.stderr
