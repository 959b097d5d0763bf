"""On this host (no systemd as PID 1) ``--systemd-cgroup`` must fail clearly, not
fall back to cgroupfs silently.  Runs on the host, no VM."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import harness


@pytest.mark.skipif(os.path.isdir("/run/systemd/system"), reason="systemd is running here")
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_systemd_cgroup_without_systemd_is_a_clear_error(tmp_path: Path) -> None:
    rc = harness.Runcgo(tmp_path / "root", tmp_path)
    cid, bundle = rc.bundle(["true"])
    rc.edit(bundle, "linux.cgroupsPath", f"system.slice:runcgo:{cid}")
    try:
        r = rc("--systemd-cgroup", "run", "--bundle", str(bundle), cid)
        assert r.returncode != 0
        assert "systemd is not running" in r.stderr, r.stderr
        assert "--systemd-cgroup" in r.stderr
        assert not (tmp_path / "root" / cid).exists()  # nothing half-made left behind
    finally:
        rc.cleanup()
