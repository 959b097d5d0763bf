"""Tests here run INSIDE the cgroup-v2 VM booted with the host's systemd as PID 1
(one boot for all of them; see ../conftest.py).  D-Bus (the system bus) is up; the
test process runs in /system.slice/runcgo-job.service."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _only_in_vm() -> None:
    if os.environ.get("RUNCGO_IN_VM") != "1":
        pytest.skip("runs only inside the cgroup-v2 VM (RUNCGO_IN_VM=1)")
