"""The fault-injection tier: SIGKILL the runtime at every stage, fill the disk,
race creates; after each fault `delete --force` must leave nothing behind.
Needs root.  The session ends with one line counting the faults injected."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

import bundles
from faultkit import COUNTS, LEFT, Env
from harness import IS_ROOT


@pytest.fixture(scope="session")
def shared_rootfs(tmp_path_factory: pytest.TempPathFactory) -> str:
    return bundles.make_rootfs(str(tmp_path_factory.mktemp("faults") / "rootfs"))


@pytest.fixture
def env(tmp_path: Path, shared_rootfs: str) -> Iterator[Env]:
    if not IS_ROOT:
        pytest.skip("the fault tier runs real containers and needs root")
    e = Env(tmp_path, shared_rootfs)
    yield e
    for cid in e.ids:  # whatever a failed test left
        e.cli("delete", "--force", cid)
    left = os.listdir(e.root) if os.path.isdir(e.root) else []
    assert not left, f"state left behind: {left}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if COUNTS["sent"] or COUNTS["checked"]:
        terminalreporter.write_line(
            f"faults injected: {COUNTS['sent']} SIGKILLs ({COUNTS['landed']} landed on a "
            f"running runtime) + {COUNTS.get('other', 0)} other faults; cleanups checked: "
            f"{COUNTS['checked']}; left behind: {COUNTS['left_behind']}")
        for item in LEFT[:10]:
            terminalreporter.write_line(f"  left behind: {item}")
